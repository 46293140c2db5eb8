import { Tensor } from 'onnxruntime-node';

import { rebuildKv } from '../../src/worker/batch-kv';

/** A cache of `rows` rows, 2 heads, `width` positions, dim 2; value = row*1000 + head*100 + pos*10 + d. */
function cache(rows: number, width: number): Record<string, Tensor> {
  const data = new Float32Array(rows * 2 * width * 2);
  for (let r = 0; r < rows; r++)
    for (let h = 0; h < 2; h++)
      for (let p = 0; p < width; p++) for (let d = 0; d < 2; d++) data[((r * 2 + h) * width + p) * 2 + d] = r * 1000 + h * 100 + p * 10 + d;
  return { k: new Tensor('float32', data, [rows, 2, width, 2]) };
}

describe('rebuildKv', () => {
  it('gathers rows from several caches into one left-padded cache as wide as the longest row', () => {
    const a = cache(3, 4); // rows left-padded within width 4
    const b = cache(1, 6);
    const { past } = rebuildKv(
      [
        { past: a, index: 2, length: 3 },
        { past: b, index: 0, length: 6 },
      ],
      ['k'],
    );
    const t = past['k']!;
    expect(t.dims).toEqual([2, 2, 6, 2]);
    const at = (r: number, h: number, p: number, d: number) => (t.data as Float32Array)[((r * 2 + h) * 6 + p) * 2 + d];
    // Row 0: the last 3 positions of a's row 2 (positions 1..3), right-aligned after 3 zero pads.
    expect([at(0, 0, 0, 0), at(0, 0, 2, 1)]).toEqual([0, 0]);
    expect([at(0, 0, 3, 0), at(0, 1, 5, 1)]).toEqual([2010, 2131]);
    // Row 1: all of b's row 0.
    expect([at(1, 0, 0, 0), at(1, 1, 5, 1)]).toEqual([0, 151]);
  });
});
