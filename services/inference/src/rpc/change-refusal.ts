import { Code, ConnectError } from '@connectrpc/connect';

import { ModelChangeError } from '../models/model-repo';

const CODES: Record<ModelChangeError['reason'], Code> = {
  invalid: Code.InvalidArgument,
  'not-found': Code.NotFound,
  exists: Code.AlreadyExists,
  // The router skips such workers: another one may serve the base.
  'not-served-here': Code.FailedPrecondition,
  'in-use': Code.FailedPrecondition,
};

/** A refused run-time change as the code a caller acts on; undefined for any other error. */
export function changeRefusal(err: unknown): ConnectError | undefined {
  return err instanceof ModelChangeError ? new ConnectError(err.message, CODES[err.reason]) : undefined;
}
