import { BATCH_CALLER_HEADER, type BatchOwner, encodeBatchCaller, PRIORITY_HEADER } from '@tokenmesh/batch';
import { injectContext } from '@tokenmesh/telemetry';

/** The gateway's answer to one line's request. */
export interface LineAnswer {
  readonly status: number;
  readonly requestId: string;
  readonly body: unknown;
  /** Retry-After, seconds, on a 429 or 503. */
  readonly retryAfterS?: number;
}

/**
 * Sends one line's request; rejects when no answer came (refused connection, timeout). Every try
 * of a line carries the same `Idempotency-Key`: a line run again after its runner was killed is
 * answered by the generation the first try started, not generated twice.
 */
export type GatewayCall = (url: string, body: Record<string, unknown>, owner: BatchOwner, idempotencyKey: string, signal: AbortSignal) => Promise<LineAnswer>;

export interface GatewayCallOptions {
  readonly gatewayUrl: string;
  readonly token?: string;
  readonly priority: number;
}

/**
 * Each line is the request a client would send the gateway (the same validation, templates, cache
 * and OpenAI answer as a direct request), at the batch priority, as the batch's owner: its model
 * list and rate limits apply.
 */
export function gatewayCall(opts: GatewayCallOptions): GatewayCall {
  const base = opts.gatewayUrl.replace(/\/+$/, '');
  return async (url, body, owner, idempotencyKey, signal) => {
    // The line's span is the active one: the gateway's spans of this request continue its trace.
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [PRIORITY_HEADER]: String(opts.priority),
      'idempotency-key': idempotencyKey,
      ...injectContext(),
    };
    if (opts.token) {
      headers['authorization'] = `Bearer ${opts.token}`;
      headers[BATCH_CALLER_HEADER] = encodeBatchCaller(owner);
    }
    const res = await fetch(`${base}${url}`, { method: 'POST', headers, body: JSON.stringify(body), signal });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): kept as text in the error file.
    }
    const retryAfter = Number(res.headers.get('retry-after'));
    return {
      status: res.status,
      requestId: res.headers.get('x-request-id') ?? '',
      body: parsed,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 && { retryAfterS: retryAfter }),
    };
  };
}
