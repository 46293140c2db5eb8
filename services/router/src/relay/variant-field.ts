/** GenerateResponse.variant: field 7, length-delimited. */
const VARIANT_TAG = (7 << 3) | 2;

/**
 * The bytes of `variant = <variant>` in a GenerateResponse, to append to the worker's message:
 * of a field present twice the last counts, so the router's tag wins as when it set the field on
 * the decoded message. Empty for no variant (proto3 writes no default).
 */
export function variantField(variant: string): Buffer {
  if (!variant) return Buffer.alloc(0);
  const text = Buffer.from(variant, 'utf8');
  const length: number[] = [];
  for (let n = text.length; ; n >>>= 7) {
    if (n < 0x80) {
      length.push(n);
      break;
    }
    length.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([VARIANT_TAG, ...length]), text]);
}
