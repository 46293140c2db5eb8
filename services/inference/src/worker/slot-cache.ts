import { copyKvPositions, type KvTensors } from '@tokenmesh/model';
import { Tensor } from 'onnxruntime-node';

import type { Joining } from './batch-cache';
import { CacheRows } from './cache-rows';

export interface SlotCacheOptions {
  /** past_key_values.* names, layer by layer. */
  readonly names: readonly string[];
  readonly heads: number;
  readonly headDim: number;
  /** The model's context length: no row holds more positions. */
  readonly contextLength: number;
  readonly padTokenId: number;
  /** Columns are allocated in steps of this many, so a buffer grows once per `chunk` decode steps. */
  readonly chunk?: number;
}

/**
 * The running batch's KV cache for the decode-step export (DecodeLm): one buffer per past name,
 * [rows, heads, capacity, dim], each row's positions from column 0, that decode passes read in
 * place and this class writes each step's new column into. No step copies the cache: a step
 * costs the new column (rows x heads x dim per tensor), and its attention reads only the
 * buffer's `capacity` columns (the longest row rounded up to a chunk).
 *
 * A leaving sequence frees its row (attending only to itself until reused); a joining one is
 * copied into a free row (its own positions only). The buffer is reallocated, copying only live
 * positions, when the rows or columns run out, or when a quarter of the rows are free or half
 * the columns unused after the joins of a step were placed: waste then costs every decode pass
 * more than the copy costs once.
 */
export class SlotCache extends CacheRows {
  private buffers: Float32Array[] = [];
  private past: KvTensors = {};
  private capacity = 0;
  private readonly chunk: number;

  constructor(private readonly opts: SlotCacheOptions) {
    super();
    this.chunk = opts.chunk ?? 32;
  }

  /** Columns every decode pass reads. */
  get width(): number {
    return this.capacity;
  }

  get tensors(): KvTensors {
    return this.past;
  }

  /**
   * Before a decode pass: places prefilled sequences in free rows, reallocating when they do not
   * fit, the longest row's next column does not, or the buffer wastes too much. Returns the
   * reallocations (0 or 1).
   */
  prepare(joining: readonly Joining[]): number {
    const free = this.owners.length - this.rowOf.size;
    const live = this.rowOf.size + joining.length;
    const longest = Math.max(0, ...this.lengths, ...joining.map((j) => j.kv.length));
    const needed = this.columnsFor(longest);
    const rebuild = joining.length > free || needed > this.capacity || (this.owners.length - live) * 4 > this.owners.length || needed * 2 <= this.capacity;
    if (rebuild) this.reallocate(live, needed);
    for (const j of joining) this.copyInto(this.owners.indexOf(undefined), j);
    return rebuild ? 1 : 0;
  }

  /** Each row's newest token and position ([rows, 1]); a free row is a pad token at position 0. */
  decodeInputs(last: (id: string) => number): { ids: Tensor; positions: Tensor } {
    const rows = this.owners.length;
    const ids = new BigInt64Array(rows);
    const positions = new BigInt64Array(rows);
    for (let r = 0; r < rows; r++) {
      const id = this.owners[r];
      ids[r] = BigInt(id === undefined ? this.opts.padTokenId : last(id));
      positions[r] = BigInt(this.lengths[r]!);
    }
    return { ids: new Tensor('int64', ids, [rows, 1]), positions: new Tensor('int64', positions, [rows, 1]) };
  }

  /** After a decode pass: writes each live row's new keys and values at its next column. */
  advance(newKv: KvTensors): void {
    const { heads, headDim } = this.opts;
    this.opts.names.forEach((name, t) => {
      const data = newKv[name]!.data as Float32Array;
      const dst = this.buffers[t]!;
      for (let row = 0; row < this.owners.length; row++)
        if (this.owners[row] !== undefined)
          copyKvPositions({ data, row, width: 1, column: 0 }, { data: dst, row, width: this.capacity, column: this.lengths[row]! }, 1, heads, headDim);
    });
    for (let r = 0; r < this.owners.length; r++) if (this.owners[r] !== undefined) this.lengths[r]! += 1;
  }

  /** Columns for rows of up to `longest` positions plus the column the next pass writes. */
  private columnsFor(longest: number): number {
    return Math.min(this.opts.contextLength, Math.ceil((longest + 1) / this.chunk) * this.chunk);
  }

  protected override clear(): void {
    super.clear();
    this.buffers = [];
    this.past = {};
    this.capacity = 0;
  }

  /** A buffer of `rows` rows and `capacity` columns holding the live rows first, positions copied. */
  private reallocate(rows: number, capacity: number): void {
    const { heads, headDim, names } = this.opts;
    const keep: number[] = [];
    this.owners.forEach((id, r) => id !== undefined && keep.push(r));
    const buffers = names.map((_, t) => {
      const out = new Float32Array(rows * heads * capacity * headDim);
      const src = this.buffers[t];
      keep.forEach((from, to) =>
        copyKvPositions(
          { data: src!, row: from, width: this.capacity, column: 0 },
          { data: out, row: to, width: capacity, column: 0 },
          this.lengths[from]!,
          heads,
          headDim,
        ),
      );
      return out;
    });
    const owners: (string | undefined)[] = keep.map((r) => this.owners[r]);
    const lengths = keep.map((r) => this.lengths[r]!);
    while (owners.length < rows) {
      owners.push(undefined);
      lengths.push(0);
    }
    this.buffers = buffers;
    this.assign(owners, lengths);
    this.capacity = capacity;
    this.past = {};
    names.forEach((name, t) => (this.past[name] = new Tensor('float32', buffers[t]!, [rows, heads, capacity, headDim])));
    this.rebuilds++;
  }

  /** Copies a prefilled row (left-padded in its prefill's present) into free row `r` from column 0. */
  private copyInto(r: number, j: Joining): void {
    const { past: src, index, length } = j.kv;
    const { heads, headDim } = this.opts;
    this.opts.names.forEach((name, t) => {
      const srcWidth = src[name]!.dims[2]!;
      copyKvPositions(
        { data: src[name]!.data as Float32Array, row: index, width: srcWidth, column: srcWidth - length },
        { data: this.buffers[t]!, row: r, width: this.capacity, column: 0 },
        length,
        heads,
        headDim,
      );
    });
    this.occupy(r, j.id, length);
  }
}
