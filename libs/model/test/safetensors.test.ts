import { parseSafeTensors, SafeTensorsError, writeSafeTensors } from '../src';

const t = (shape: number[], values: number[]) => ({ shape, data: new Float32Array(values) });

/** A file with a hand-written header: dtypes and layouts the writer does not make. */
function raw(header: object, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

describe('safetensors', () => {
  it('round-trips float32 tensors and metadata', () => {
    const file = writeSafeTensors({ a: t([2, 2], [1, 2, 3, 4]), b: t([3], [0.5, -1, 1e-8]) }, { format: 'pt' });
    const { tensors, metadata } = parseSafeTensors(file, 'x.safetensors');
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.get('a')).toEqual(t([2, 2], [1, 2, 3, 4]));
    expect([...tensors.get('b')!.data]).toEqual([...new Float32Array([0.5, -1, 1e-8])]);
  });

  it('reads float16 and bfloat16 as float32', () => {
    const data = new Uint8Array(8);
    const view = new DataView(data.buffer);
    view.setUint16(0, 0x3c00, true); // f16 1.0
    view.setUint16(2, 0xc000, true); // f16 -2.0
    view.setUint16(4, 0x3f80, true); // bf16 1.0
    view.setUint16(6, 0x4049, true); // bf16 3.140625
    const file = raw({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] } }, data);
    const { tensors } = parseSafeTensors(file, 'x');
    expect([...tensors.get('h')!.data]).toEqual([1, -2]);
    expect([...tensors.get('b')!.data]).toEqual([1, 3.140625]);
  });

  it.each([
    ['a file shorter than the length', () => new Uint8Array(3), /truncated: 3 bytes/],
    ['a header longer than the file', () => writeSafeTensors({ a: t([4], [1, 2, 3, 4]) }).subarray(0, 20), /truncated or corrupt/],
    ['data cut short', () => writeSafeTensors({ a: t([4], [1, 2, 3, 4]) }).slice(0, -4), /truncated: a ends at byte 16 of the data, which has 12/],
    ['a header that is not JSON', () => raw({}, new Uint8Array()).fill(0x7b, 8), /not JSON/],
    [
      'an unknown dtype',
      () => raw({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /a: dtype "I64" is not one of F32, F16, BF16/,
    ],
    [
      'a size that does not match the shape',
      () => raw({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /a: 8 bytes of data for shape \[3\] F32 \(12 expected\)/,
    ],
    [
      'overlapping tensors',
      () => raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)),
      /overlaps/,
    ],
    ['bytes after the last tensor', () => raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)), /4 bytes after the last tensor/],
  ])('refuses %s, naming the problem', (_, file, message) => {
    expect(() => parseSafeTensors(file(), 'adapter.safetensors')).toThrow(SafeTensorsError);
    expect(() => parseSafeTensors(file(), 'adapter.safetensors')).toThrow(message);
  });
});
