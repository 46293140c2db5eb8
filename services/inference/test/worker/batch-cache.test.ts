import { Tensor } from 'onnxruntime-node';

import { BatchCache } from '../../src/worker/batch-cache';
import type { KvRow } from '../../src/worker/batch-kv';

const HEADS = 2;
const DIM = 2;

/** A one-name cache of `rows` rows × `width` positions whose every value in row r is `base + r`. */
function prefill(rows: number, width: number, base: number): Record<string, Tensor> {
  const data = new Float32Array(rows * HEADS * width * DIM);
  for (let r = 0; r < rows; r++) data.fill(base + r, r * HEADS * width * DIM, (r + 1) * HEADS * width * DIM);
  return { k: new Tensor('float32', data, [rows, HEADS, width, DIM]) };
}

/** The next step's present: the past plus one position holding `step` in every row. */
function decodeStep(past: Record<string, Tensor>, step: number): Record<string, Tensor> {
  const t = past['k']!;
  const [rows, heads, width, dim] = t.dims as [number, number, number, number];
  const out = new Float32Array(rows * heads * (width + 1) * dim);
  const src = t.data as Float32Array;
  for (let r = 0; r < rows; r++)
    for (let h = 0; h < heads; h++) {
      out.set(src.subarray((r * heads + h) * width * dim, ((r * heads + h) * width + width) * dim), (r * heads + h) * (width + 1) * dim);
      out.fill(step, ((r * heads + h) * (width + 1) + width) * dim, ((r * heads + h) * (width + 1) + width + 1) * dim);
    }
  return { k: new Tensor('float32', out, [rows, heads, width + 1, dim]) };
}

/** Row r's cached positions (its last `length` of the width), head 0, first dim. */
function rowValues(cache: BatchCache, r: number, length: number): number[] {
  const t = cache.tensors['k']!;
  const width = t.dims[2]!;
  const d = t.data as Float32Array;
  return Array.from({ length }, (_, p) => d[(r * HEADS * width + width - length + p) * DIM]!);
}

const joining = (id: string, past: Record<string, Tensor>, index: number, length: number): { id: string; kv: KvRow } => ({ id, kv: { past, index, length } });

describe('BatchCache', () => {
  it('a leaving row stays as padding and the next join is copied into it, with no gather', () => {
    const cache = new BatchCache({ names: ['k'], padTokenId: 0 });
    const p = prefill(3, 4, 10);
    expect(cache.prepare([joining('a', p, 0, 4), joining('b', p, 1, 2), joining('c', p, 2, 3)])).toBe(1);
    expect(cache.ids()).toEqual(['a', 'b', 'c']);
    cache.advance(decodeStep(cache.tensors, 1), 1);
    cache.leave('b');
    expect(cache.ids()).toEqual(['a', undefined, 'c']);
    // A newcomer of 3 positions fits the width (5): copied into b's row, right-aligned.
    const q = prefill(1, 3, 50);
    expect(cache.prepare([joining('d', q, 0, 3)])).toBe(0);
    expect(cache.ids()).toEqual(['a', 'd', 'c']);
    expect(cache.rebuilds).toBe(1);
    expect(rowValues(cache, 1, 3)).toEqual([50, 50, 50]);
    expect(rowValues(cache, 0, 5)).toEqual([10, 10, 10, 10, 1]);
    // The mask shows each row its own positions plus the new token, a free row only itself.
    cache.leave('c');
    const { mask, positions } = cache.decodeInputs(() => 7);
    expect(Array.from(mask.data as BigInt64Array).map(Number)).toEqual([1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1]);
    expect(Array.from(positions.data as BigInt64Array).map(Number)).toEqual([5, 3, 0]);
  });

  it('gathers when a join does not fit (no free row, or a prompt wider than the cache)', () => {
    const cache = new BatchCache({ names: ['k'], padTokenId: 0 });
    const p = prefill(2, 2, 10);
    cache.prepare([joining('a', p, 0, 2), joining('b', p, 1, 2)]);
    cache.advance(decodeStep(cache.tensors, 1), 1);
    // No free row: a third sequence makes a new cache of three rows.
    expect(cache.prepare([joining('c', prefill(1, 1, 30), 0, 1)])).toBe(1);
    expect(cache.ids()).toEqual(['a', 'b', 'c']);
    expect(rowValues(cache, 0, 3)).toEqual([10, 10, 1]);
    cache.leave('c');
    // A free row, but the prompt (6) is wider than the cache (3): gathered into a wider one.
    expect(cache.prepare([joining('d', prefill(1, 6, 40), 0, 6)])).toBe(1);
    expect(cache.ids()).toEqual(['a', 'b', 'd']);
    expect(cache.width).toBe(6);
    expect(rowValues(cache, 2, 6)).toEqual([40, 40, 40, 40, 40, 40]);
  });

  it('compacts once the wasted cells have cost as much as a gather would, then keeps only the live rows', () => {
    const cache = new BatchCache({ names: ['k'], padTokenId: 0 });
    const p = prefill(4, 8, 10);
    cache.prepare(['a', 'b', 'c', 'd'].map((id, i) => joining(id, p, i, 8)));
    for (const id of ['b', 'c', 'd']) cache.leave(id);
    // Each step, 3 of 4 rows are waste; a decode cell costs what a gather cell does (1 ms / cell
    // here): after a few steps the waste outweighs gathering the one live row.
    let gathered = 0;
    for (let step = 1; step <= 10 && gathered === 0; step++) {
      cache.advance(decodeStep(cache.tensors, step), 4 * (cache.width + 1));
      gathered = cache.prepare([]);
    }
    expect(gathered).toBe(1);
    expect(cache.ids()).toEqual(['a']);
    expect(cache.rows).toBe(1);
  });
});
