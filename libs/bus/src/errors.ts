/**
 * Why a bus call failed, the same in both adapters so callers can branch on it:
 * - `invalid`: a subject, stream name, header or option the server would refuse;
 * - `no-stream`: a durable publish to a subject no stream holds;
 * - `stream-not-found`: consume from a stream that does not exist;
 * - `conflict`: the request contradicts existing state (retention change, overlapping subjects,
 *   a second consumer on a work-queue stream);
 * - `closed`: the bus was closed.
 */
export type BusErrorCode = 'invalid' | 'no-stream' | 'stream-not-found' | 'conflict' | 'closed';

/** An error from either bus adapter; `code` is stable, `message` is for people. */
export class BusError extends Error {
  constructor(
    readonly code: BusErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BusError';
  }
}
