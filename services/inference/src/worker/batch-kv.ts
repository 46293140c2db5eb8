import { copyKvPositions, type KvTensors } from '@tokenmesh/model';
import { Tensor } from 'onnxruntime-node';

/**
 * One row of a batched KV cache: where its tokens sit in the row. Rows are left-padded, so a
 * row's `length` cached positions are the last `length` of the batch's `width`.
 */
export interface KvRow {
  /** Source cache and the row's index in it. */
  readonly past: KvTensors;
  readonly index: number;
  /** Positions cached for this sequence. */
  readonly length: number;
}

/**
 * Builds a left-padded batch cache from rows of other caches: used only when the batch's
 * membership changes (sequences join after prefill or leave); while it is unchanged, each step's
 * `present` is fed back as `past` with no copy. The cache's width is the longest row.
 */
export function rebuildKv(rows: readonly KvRow[], names: readonly string[]): { past: KvTensors } {
  const width = Math.max(0, ...rows.map((r) => r.length));
  const past: KvTensors = {};
  for (const name of names) {
    const first = rows[0]!.past[name]!;
    const [, heads, , dim] = first.dims as [number, number, number, number];
    const out = new Float32Array(rows.length * heads * width * dim);
    rows.forEach((row, r) => {
      const src = row.past[name]!;
      const srcWidth = src.dims[2]!;
      copyKvPositions(
        { data: src.data as Float32Array, row: row.index, width: srcWidth, column: srcWidth - row.length },
        { data: out, row: r, width, column: width - row.length },
        row.length,
        heads,
        dim,
      );
    });
    past[name] = new Tensor('float32', out, [rows.length, heads, width, dim]);
  }
  return { past };
}
