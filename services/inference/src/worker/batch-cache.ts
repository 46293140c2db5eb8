import { copyKvPositions, type KvTensors } from '@tokenmesh/model';
import { Tensor } from 'onnxruntime-node';

import { type KvRow, rebuildKv } from './batch-kv';
import { CacheRows } from './cache-rows';

/** A prefilled sequence waiting to join: its id and where its KV row sits in the prefill output. */
export interface Joining {
  readonly id: string;
  readonly kv: KvRow;
}

/** The decode pass's inputs besides the past: [rows, 1] ids and positions, [rows, width + 1] mask. */
export interface DecodeInputs {
  readonly ids: Tensor;
  readonly mask: Tensor;
  readonly positions: Tensor;
}

export interface BatchCacheOptions {
  /** past_key_values.* names, layer by layer. */
  readonly names: readonly string[];
  readonly padTokenId: number;
}

/** Exponentially weighted moving average, undefined until the first sample. */
const ewma = (prev: number | undefined, sample: number, weight = 0.1) => (prev === undefined ? sample : prev + weight * (sample - prev));

/**
 * The running batch's KV cache, one left-padded tensor per past name ([rows, heads, width, dim]),
 * whose rows are slots. Every decode step's `present` becomes the next `past` with no copy.
 *
 * A sequence leaving frees its row at no cost: the row stays as masked padding. A sequence
 * joining is copied into a free row when its prompt fits the cache's width (a copy of its own
 * positions only). All rows are gathered into a new cache only when no free row fits, or when
 * the cells wasted since the last gather (free rows, and leading columns no row uses any more,
 * which every decode step computes and copies) have cost as much as a gather would: the
 * ski-rental rule, so waste never costs more than twice the best schedule of gathers. Both costs
 * are measured as the cache runs. Under arrivals spread in time a join or leave happens nearly
 * every step; this keeps each proportional to the sequence, not to the batch.
 */
export class BatchCache extends CacheRows {
  private past: KvTensors | undefined;
  private columns = 0;
  /** ms per cell (row × position) of a decode pass, and of a gather, as measured. */
  private decodeCellMs: number | undefined;
  private gatherCellMs: number | undefined;
  /** Decode-pass cost of the wasted cells since the last gather, in ms. */
  private wastedMs = 0;
  constructor(private readonly opts: BatchCacheOptions) {
    super();
  }

  /** Positions of the cache: its longest row plus leading columns no row uses any more. */
  get width(): number {
    return this.columns;
  }

  /** The past to feed the decode pass; defined while any row exists. */
  get tensors(): KvTensors {
    return this.past!;
  }

  /**
   * Before a decode pass: places prefilled sequences, and gathers when they do not fit or the
   * waste has cost a gather's worth. Returns how many full gathers that took (0 or 1).
   */
  prepare(joining: readonly Joining[]): number {
    const unplaced: Joining[] = [];
    for (const j of joining) {
      const free = this.past && j.kv.length <= this.columns ? this.owners.indexOf(undefined) : -1;
      if (free < 0) unplaced.push(j);
      else this.copyInto(free, j);
    }
    if (unplaced.length === 0 && !this.wasteful()) return 0;
    this.gather(unplaced);
    return 1;
  }

  /** Inputs of one decode step: each row's newest token at its own position, padding masked. */
  decodeInputs(last: (id: string) => number): DecodeInputs {
    const rows = this.owners.length;
    const w = this.columns + 1;
    const ids = new BigInt64Array(rows);
    const positions = new BigInt64Array(rows);
    const mask = new BigInt64Array(rows * w);
    for (let r = 0; r < rows; r++) {
      const id = this.owners[r];
      const len = this.lengths[r]!;
      ids[r] = BigInt(id === undefined ? this.opts.padTokenId : last(id));
      positions[r] = BigInt(len);
      // A free row attends only to its own (pad) token: a fully masked row would be all padding.
      mask.fill(1n, (r + 1) * w - len - 1, (r + 1) * w);
    }
    return {
      ids: new Tensor('int64', ids, [rows, 1]),
      mask: new Tensor('int64', mask, [rows, w]),
      positions: new Tensor('int64', positions, [rows, 1]),
    };
  }

  /**
   * After a decode pass that took `passMs` over the cache as prepared: its present is the new
   * past, one position wider, every sequence one longer.
   */
  advance(present: KvTensors, passMs: number): void {
    const cells = this.owners.length * (this.columns + 1);
    this.decodeCellMs = ewma(this.decodeCellMs, passMs / cells);
    this.wastedMs += (cells - this.rowOf.size * (Math.max(...this.lengths) + 1)) * this.decodeCellMs;
    this.past = present;
    this.columns += 1;
    for (let r = 0; r < this.owners.length; r++) if (this.owners[r] !== undefined) this.lengths[r]! += 1;
  }

  protected override clear(): void {
    super.clear();
    this.wastedMs = 0;
    this.past = undefined;
    this.columns = 0;
  }

  /** Copies a prefilled row into free row `r`, right-aligned: the positions left of it stay masked. */
  private copyInto(r: number, j: Joining): void {
    const { past: src, index, length } = j.kv;
    for (const name of this.opts.names) {
      const from = src[name]!;
      const to = this.past![name]!;
      const [, heads, srcWidth, dim] = from.dims as [number, number, number, number];
      copyKvPositions(
        { data: from.data as Float32Array, row: index, width: srcWidth, column: srcWidth - length },
        { data: to.data as Float32Array, row: r, width: this.columns, column: this.columns - length },
        length,
        heads,
        dim,
      );
    }
    this.occupy(r, j.id, length);
  }

  /** Whether the waste since the last gather has cost what gathering the live rows now would. */
  private wasteful(): boolean {
    if (this.wastedMs === 0 || this.decodeCellMs === undefined) return false;
    const live = this.rowOf.size * Math.max(...this.lengths);
    // Before any gather was timed, assume it costs what a decode pass does per cell.
    return this.wastedMs >= live * (this.gatherCellMs ?? this.decodeCellMs);
  }

  /** A new cache of exactly the live rows plus `extra`, as wide as the longest. */
  private gather(extra: readonly Joining[]): void {
    const rows: KvRow[] = [];
    const owners: string[] = [];
    this.owners.forEach((id, r) => {
      if (id === undefined) return;
      rows.push({ past: this.past!, index: r, length: this.lengths[r]! });
      owners.push(id);
    });
    for (const j of extra) {
      rows.push(j.kv);
      owners.push(j.id);
    }
    this.rebuilds++;
    this.wastedMs = 0;
    if (rows.length === 0) return this.clear();
    const t0 = performance.now();
    const { past } = rebuildKv(rows, this.opts.names);
    const cells = rows.reduce((n, r) => n + r.length, 0);
    if (cells > 0) this.gatherCellMs = ewma(this.gatherCellMs, (performance.now() - t0) / cells);
    this.past = past;
    this.assign(
      owners,
      rows.map((r) => r.length),
    );
    this.columns = Math.max(...this.lengths);
  }
}
