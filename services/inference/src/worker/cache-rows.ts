/**
 * The rows of a running batch's KV cache (BatchCache, SlotCache): which sequence owns each row
 * and how many positions it has cached. A leaving sequence frees its row; the cache decides
 * when to reuse it or compact it away.
 */
export abstract class CacheRows {
  /** Sequence id per row; undefined: a free row. */
  protected owners: (string | undefined)[] = [];
  /** Cached positions per row (0 for a free row). */
  protected lengths: number[] = [];
  protected readonly rowOf = new Map<string, number>();
  /** Full rebuilds (gathers, reallocations) since construction. */
  rebuilds = 0;

  /** Rows of the cache, free ones included. */
  get rows(): number {
    return this.owners.length;
  }

  /** Sequences in the cache. */
  get size(): number {
    return this.rowOf.size;
  }

  has(id: string): boolean {
    return this.rowOf.has(id);
  }

  /** Row order of the sequences: `ids()[r]` owns row r (undefined: free). */
  ids(): readonly (string | undefined)[] {
    return this.owners;
  }

  /** Frees the sequence's row; its positions stay, unseen, until reused or compacted away. */
  leave(id: string): void {
    const r = this.rowOf.get(id);
    if (r === undefined) return;
    this.rowOf.delete(id);
    this.owners[r] = undefined;
    this.lengths[r] = 0;
    if (this.rowOf.size === 0) this.clear();
  }

  /** Drops every row and the tensors: the cache is empty. */
  protected clear(): void {
    this.owners = [];
    this.lengths = [];
  }

  /** After a rebuild: the new row order. */
  protected assign(owners: (string | undefined)[], lengths: number[]): void {
    this.owners = owners;
    this.lengths = lengths;
    this.rowOf.clear();
    owners.forEach((id, r) => id !== undefined && this.rowOf.set(id, r));
  }

  /** Takes free row `r` for sequence `id` of `length` positions. */
  protected occupy(r: number, id: string, length: number): void {
    this.owners[r] = id;
    this.lengths[r] = length;
    this.rowOf.set(id, r);
  }
}
