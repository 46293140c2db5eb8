import { Tensor } from 'onnxruntime-node';

/** Token rows left-padded to one width, with the attention mask that hides the padding. */
export interface PaddedBatch {
  readonly ids: number[][];
  readonly mask: number[][];
}

/** Left-pads token rows to the longest one (decoder-only models generate at the right edge). */
export function leftPad(rows: readonly (readonly number[])[], padId: number): PaddedBatch {
  const width = Math.max(...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...new Array<number>(width - r.length).fill(padId), ...r]),
    mask: rows.map((r) => [...new Array<number>(width - r.length).fill(0), ...new Array<number>(r.length).fill(1)]),
  };
}

/**
 * Position ids in Hugging Face's convention: the count of real tokens before each position;
 * padding positions get 1 (any value works: they are masked).
 */
export function positionIds(mask: readonly (readonly number[])[]): number[][] {
  return mask.map((row) => {
    let seen = 0;
    return row.map((m) => (m ? seen++ : 1));
  });
}

/** A rectangular int64 tensor from equal-length rows. */
export function int64Tensor(rows: readonly (readonly number[])[]): Tensor {
  const width = rows[0]?.length ?? 0;
  const data = new BigInt64Array(rows.length * width);
  rows.forEach((row, r) => {
    if (row.length !== width) throw new Error(`row ${r} has ${row.length} values, expected ${width}`);
    row.forEach((v, c) => (data[r * width + c] = BigInt(v)));
  });
  return new Tensor('int64', data, [rows.length, width]);
}
