import { Tensor } from 'onnxruntime-node';

import type { KvRow } from '../../src/worker/batch-kv';
import { SlotCache } from '../../src/worker/slot-cache';

const HEADS = 2;
const DIM = 2;

/** A left-padded prefill present of `rows` rows × `width` positions: row r, position p holds base + 10 r + p. */
function prefill(rows: number, width: number, base: number): Record<string, Tensor> {
  const data = new Float32Array(rows * HEADS * width * DIM);
  for (let r = 0; r < rows; r++)
    for (let h = 0; h < HEADS; h++)
      for (let p = 0; p < width; p++) data.fill(base + 10 * r + p, ((r * HEADS + h) * width + p) * DIM, ((r * HEADS + h) * width + p + 1) * DIM);
  return { k: new Tensor('float32', data, [rows, HEADS, width, DIM]) };
}

/** A decode pass's new column: `value + row` in every row. */
const column = (rows: number, value: number) => {
  const data = new Float32Array(rows * HEADS * DIM);
  for (let r = 0; r < rows; r++) data.fill(value + r, r * HEADS * DIM, (r + 1) * HEADS * DIM);
  return { k: new Tensor('float32', data, [rows, HEADS, 1, DIM]) };
};

/** Row r's first `length` positions, head 1 (the last head: catches a head stride error), first dim. */
function rowValues(cache: SlotCache, r: number, length: number): number[] {
  const t = cache.tensors['k']!;
  const capacity = t.dims[2]!;
  const d = t.data as Float32Array;
  return Array.from({ length }, (_, p) => d[((r * HEADS + 1) * capacity + p) * DIM]!);
}

const joining = (id: string, past: Record<string, Tensor>, index: number, length: number): { id: string; kv: KvRow } => ({ id, kv: { past, index, length } });
const make = (chunk = 4) => new SlotCache({ names: ['k'], heads: HEADS, headDim: DIM, contextLength: 64, padTokenId: 0, chunk });

describe('SlotCache', () => {
  it('places prefilled rows from column 0, writes each step at a row’s own next column, and passes its positions', () => {
    const cache = make();
    const p = prefill(2, 3, 100);
    // Row 1 of the prefill is left-padded: its 2 positions are the last 2 of 3.
    expect(cache.prepare([joining('a', p, 0, 3), joining('b', p, 1, 2)])).toBe(1);
    expect({ rows: cache.rows, width: cache.width }).toEqual({ rows: 2, width: 4 });
    expect(rowValues(cache, 0, 3)).toEqual([100, 101, 102]);
    expect(rowValues(cache, 1, 2)).toEqual([111, 112]);
    const { ids, positions } = cache.decodeInputs((id) => (id === 'a' ? 7 : 8));
    expect(Array.from(ids.data as BigInt64Array).map(Number)).toEqual([7, 8]);
    expect(Array.from(positions.data as BigInt64Array).map(Number)).toEqual([3, 2]);
    cache.advance(column(2, 500));
    expect(rowValues(cache, 0, 4)).toEqual([100, 101, 102, 500]);
    expect(rowValues(cache, 1, 3)).toEqual([111, 112, 501]);
  });

  it('reuses a free row with no reallocation; a free row is a pad token at position 0', () => {
    const cache = make();
    const p = prefill(4, 2, 0);
    cache.prepare(['a', 'b', 'c', 'd'].map((id, i) => joining(id, p, i, 2)));
    cache.leave('b');
    const { ids, positions } = cache.decodeInputs(() => 9);
    expect(Array.from(ids.data as BigInt64Array).map(Number)).toEqual([9, 0, 9, 9]);
    expect(Array.from(positions.data as BigInt64Array).map(Number)).toEqual([2, 0, 2, 2]);
    cache.advance(column(4, 50));
    expect(cache.prepare([joining('e', prefill(1, 1, 70), 0, 1)])).toBe(0);
    expect(cache.ids()).toEqual(['a', 'e', 'c', 'd']);
    expect(rowValues(cache, 1, 1)).toEqual([70]);
    expect(rowValues(cache, 2, 3)).toEqual([20, 21, 52]);
    expect(cache.rebuilds).toBe(1);
  });

  it('reallocates, keeping every live position, when rows or columns run out', () => {
    const cache = make();
    cache.prepare([joining('a', prefill(1, 2, 0), 0, 2)]);
    cache.advance(column(1, 50)); // a: 3 positions, capacity 4
    expect(cache.prepare([joining('b', prefill(1, 3, 200), 0, 3)])).toBe(1); // no free row
    expect(cache.ids()).toEqual(['a', 'b']);
    expect(rowValues(cache, 0, 3)).toEqual([0, 1, 50]);
    cache.advance(column(2, 60)); // a: 4, b: 4: the next column (4) is past the capacity
    expect(cache.prepare([])).toBe(1);
    expect(cache.width).toBe(8);
    expect(rowValues(cache, 0, 4)).toEqual([0, 1, 50, 60]);
    expect(rowValues(cache, 1, 4)).toEqual([200, 201, 202, 61]);
  });

  it('compacts when a quarter of the rows are free or half the columns unused, live rows first', () => {
    const cache = make();
    const p = prefill(4, 2, 0);
    cache.prepare(['a', 'b', 'c', 'd'].map((id, i) => joining(id, p, i, 2)));
    cache.leave('a');
    cache.leave('c');
    expect(cache.prepare([])).toBe(1);
    expect(cache.ids()).toEqual(['b', 'd']);
    expect(rowValues(cache, 1, 2)).toEqual([30, 31]);
    // A long row leaves: the short one needs 4 columns of the 12 held.
    const q = prefill(1, 10, 100);
    cache.prepare([joining('long', q, 0, 10)]);
    expect(cache.width).toBe(12);
    cache.leave('long');
    cache.leave('b');
    expect(cache.prepare([])).toBe(1);
    expect({ ids: cache.ids(), width: cache.width }).toEqual({ ids: ['d'], width: 4 });
    expect(rowValues(cache, 0, 2)).toEqual([30, 31]);
  });
});
