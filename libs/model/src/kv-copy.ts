/** Where a row's positions sit in a [rows, heads, width, dim] KV buffer. */
export interface KvSpan {
  readonly data: Float32Array;
  readonly row: number;
  /** The buffer's width (positions per row and head). */
  readonly width: number;
  /** First column of the span. */
  readonly column: number;
}

// Below this many floats an element loop beats a subarray view plus set (no allocation): the
// one-column writes of every decode step are `dim` floats per head.
const SHORT_COPY = 128;

/**
 * Copies `length` positions of every head from one row of a KV buffer to a row of another
 * (left-padded Optimum presents, column-0 decode buffers, one-column decode outputs alike).
 */
export function copyKvPositions(from: KvSpan, to: KvSpan, length: number, heads: number, dim: number): void {
  const n = length * dim;
  for (let h = 0; h < heads; h++) {
    const s = ((from.row * heads + h) * from.width + from.column) * dim;
    const d = ((to.row * heads + h) * to.width + to.column) * dim;
    if (n < SHORT_COPY) for (let k = 0; k < n; k++) to.data[d + k] = from.data[s + k]!;
    else to.data.set(from.data.subarray(s, s + n), d);
  }
}
