/** One tensor of a safetensors file, converted to float32. */
export interface SafeTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A parsed safetensors file: its tensors by name and its `__metadata__` strings. */
export interface SafeTensors {
  readonly tensors: ReadonlyMap<string, SafeTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Why a safetensors file was refused; `source` names the file. */
export class SafeTensorsError extends Error {
  constructor(source: string, detail: string) {
    super(`${source}: ${detail}`);
    this.name = 'SafeTensorsError';
  }
}

/** Bytes per element of the dtypes an adapter may use; all are read as float32. */
const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** A header larger than this is not an adapter of ours (and not worth a JSON.parse). */
const MAX_HEADER_BYTES = 16 << 20;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function toFloat32(bytes: Uint8Array, dtype: string, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    if (dtype === 'F32') out[i] = view.getFloat32(i * 4, true);
    else if (dtype === 'F16') out[i] = halfToFloat(view.getUint16(i * 2, true));
    // bfloat16: the high half of a float32.
    else out[i] = new Float32Array(new Uint32Array([view.getUint16(i * 2, true) << 16]).buffer)[0]!;
  }
  return out;
}

/**
 * Parses the safetensors format (Hugging Face's: an 8-byte little-endian header length, a JSON
 * header mapping each name to `{dtype, shape, data_offsets}` relative to the data that follows,
 * then the raw little-endian data). Every entry is checked: a known dtype, a shape of
 * non-negative integers whose size matches its byte range, ranges inside the file, in order and
 * never overlapping. A truncated or corrupt file is an error naming the problem, never a
 * partial result.
 * @throws SafeTensorsError
 */
export function parseSafeTensors(file: Uint8Array, source: string): SafeTensors {
  if (file.byteLength < 8) throw new SafeTensorsError(source, `truncated: ${file.byteLength} bytes, the header length alone takes 8`);
  const headerLength = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > file.byteLength) {
    throw new SafeTensorsError(source, `truncated or corrupt: the header says ${headerLength} bytes, the file has ${file.byteLength - 8} after the length`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + headerLength)));
  } catch (err) {
    throw new SafeTensorsError(source, `the header is not JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafeTensorsError(source, 'the header is not a JSON object');
  const data = file.subarray(8 + headerLength);
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = Object.fromEntries(Object.entries((entry ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const e = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bytes = typeof e.dtype === 'string' ? DTYPE_BYTES[e.dtype] : undefined;
    if (bytes === undefined)
      throw new SafeTensorsError(source, `${name}: dtype ${JSON.stringify(e.dtype)} is not one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafeTensorsError(source, `${name}: shape must be a list of non-negative integers, got ${JSON.stringify(e.shape)}`);
    }
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw new SafeTensorsError(source, `${name}: data_offsets must be [begin, end], got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (e.shape as number[]).reduce((n, d) => n * d, 1);
    if (end - begin !== count * bytes)
      throw new SafeTensorsError(source, `${name}: ${end - begin} bytes of data for shape [${e.shape.join(', ')}] ${e.dtype} (${count * bytes} expected)`);
    if (end > data.byteLength) throw new SafeTensorsError(source, `truncated: ${name} ends at byte ${end} of the data, which has ${data.byteLength}`);
    ranges.push([begin, end, name]);
    tensors.set(name, { shape: e.shape as number[], data: toFloat32(data.subarray(begin, end), e.dtype as string, count) });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  // The format has no holes: the ranges tile the data exactly (what follows the last one is not ours).
  let covered = 0;
  for (const [begin, end, name] of ranges) {
    if (begin < covered) throw new SafeTensorsError(source, `${name} overlaps the tensor before it`);
    if (begin > covered) throw new SafeTensorsError(source, `a hole of ${begin - covered} bytes before ${name}`);
    covered = end;
  }
  if (covered !== data.byteLength) throw new SafeTensorsError(source, `${data.byteLength - covered} bytes after the last tensor`);
  return { tensors, metadata };
}

/** Writes the safetensors format (float32 only): for tests and tools that make adapters. */
export function writeSafeTensors(tensors: Readonly<Record<string, SafeTensor>>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = Object.keys(metadata).length > 0 ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let at = 8 + json.byteLength;
  for (const t of Object.values(tensors)) {
    const view = new DataView(out.buffer, at, t.data.byteLength);
    t.data.forEach((v, i) => view.setFloat32(i * 4, v, true));
    at += t.data.byteLength;
  }
  return out;
}
