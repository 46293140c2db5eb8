/**
 * The router's one string hash, for traffic-split buckets and the consistent-hash ring: both need
 * keys that differ only at the end (user-1, user-2) to spread over the whole 32-bit range.
 */
const encoder = new TextEncoder();

/**
 * MurmurHash3 x86 32-bit. Its final avalanche makes every output bit depend on every input bit,
 * so keys differing only at the end (user-1, user-2) still spread evenly over [0, 1).
 */
export function murmur3(data: Uint8Array, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const tail = data.length & ~3;
  let h = seed | 0;
  for (let i = 0; i < tail; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, c2);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = data.length & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= data[tail + 2]! << 16;
    if (rest >= 2) k ^= data[tail + 1]! << 8;
    k ^= data[tail]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, c2);
  }
  h ^= data.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** murmur3 of the string's UTF-8 bytes. */
export function hashString(s: string, seed = 0): number {
  return murmur3(encoder.encode(s), seed);
}
