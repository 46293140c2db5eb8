import { Code, ConnectError } from '@connectrpc/connect';

/**
 * What a person reads when a call fails: what happened and what to do, then the gateway's own
 * words. `gateway` is the address the page calls (named when it cannot be reached).
 */
export function errorMessage(err: unknown, gateway: string): string {
  const e = ConnectError.from(err);
  const detail = e.rawMessage;
  switch (e.code) {
    case Code.Unauthenticated:
      return `401 — the gateway needs an API key: enter a valid one in the API key field. (${detail})`;
    case Code.PermissionDenied:
      return `403 — this API key may not do that: ${detail}`;
    case Code.ResourceExhausted: {
      if (/larger than|too large|exceeds|limit of \d+ bytes/i.test(detail)) return `413 — the request is too large: ${detail}`;
      const after = e.metadata.get('retry-after');
      return after
        ? `429 — the gateway is busy or the rate limit is reached: retry in ${after} s. (${detail})`
        : `429 — the gateway is busy or the rate limit is reached: retry later. (${detail})`;
    }
    case Code.DeadlineExceeded:
      return `Timed out — the request took longer than its deadline: ${detail}`;
    case Code.Canceled:
      return 'Stopped.';
    case Code.InvalidArgument:
    case Code.OutOfRange:
      return `The request was refused: ${detail}`;
    case Code.NotFound:
      return `Not found: ${detail}`;
    case Code.Unavailable:
      return `The gateway or the model is unavailable now: ${detail}`;
    case Code.Unknown:
      // What fetch throws when there is no answer at all: the gateway is gone, or refused this origin (CORS).
      if (/fetch|network|load failed/i.test(detail))
        return `The gateway at ${gateway} cannot be reached: is it running, and (for a page on another origin) is this page's origin in its GATEWAY_CORS_ORIGINS?`;
      return `The gateway failed: ${detail}`;
    default:
      return `The gateway failed (${Code[e.code]}): ${detail}`;
  }
}
