/** Why a store call failed, the same for both adapters. See `Store`. */
export type StoreErrorCode = 'wrong-type' | 'not-a-number' | 'invalid' | 'closed';

/** An error from either store adapter; `code` is stable, `message` is for people. */
export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}
