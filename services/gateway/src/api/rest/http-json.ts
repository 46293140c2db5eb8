import { Code, ConnectError } from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError, restError } from '../../edge/api-error';
import { RATE_LIMIT_HEADERS } from '../../edge/rate-limit/rate-limit-headers';
import { isUtf8, parseContentType } from './content-type';
import { jsonDepth, MAX_JSON_DEPTH } from './json-depth';

/** HTTP status for each Connect code, as Connect's own HTTP mapping. */
const STATUS: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  // The contract: an unknown model is a bad request that names the `model` field.
  [Code.NotFound]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.AlreadyExists]: 409,
  [Code.FailedPrecondition]: 400,
  [Code.ResourceExhausted]: 429,
  [Code.Canceled]: 499,
  [Code.DeadlineExceeded]: 504,
  [Code.Unavailable]: 503,
  [Code.Unimplemented]: 404,
};

const TYPE: Partial<Record<Code, string>> = {
  [Code.InvalidArgument]: 'invalid_request_error',
  [Code.NotFound]: 'invalid_request_error',
  [Code.Unauthenticated]: 'authentication_error',
  [Code.PermissionDenied]: 'permission_error',
  [Code.AlreadyExists]: 'invalid_request_error',
  [Code.FailedPrecondition]: 'invalid_request_error',
  [Code.ResourceExhausted]: 'rate_limit_error',
};

const ANSWER = Symbol('tokenmesh.restAnswer');

/** A REST status and error code that the Connect code alone does not give (413, 415). */
interface RestAnswer {
  readonly status: number;
  readonly code: string;
}

function answeredAs(e: ConnectError, answer: RestAnswer): ConnectError {
  (e as ConnectError & { [ANSWER]?: RestAnswer })[ANSWER] = answer;
  return e;
}

/**
 * A body over GATEWAY_BODY_LIMIT_BYTES: RESOURCE_EXHAUSTED (as gRPC's own message size limit)
 * that REST answers with 413 `request_too_large`, not with the rate limit's 429.
 */
export function bodyTooLarge(limit: number): ConnectError {
  return answeredAs(apiError(Code.ResourceExhausted, null, `request body is larger than ${limit} bytes`), { status: 413, code: 'request_too_large' });
}

/**
 * No such object for this caller (a file, a batch): 404 `not_found` over REST, NOT_FOUND over
 * RPC. Not the 400 an unknown model gets: here the path names something that is not there.
 */
export function objectNotFound(detail: string): ConnectError {
  return answeredAs(apiError(Code.NotFound, null, detail), { status: 404, code: 'not_found' });
}

/** A request the object's state does not allow (cancel a finished batch): 409 `conflict`. */
export function conflictAnswer(detail: string): ConnectError {
  return answeredAs(apiError(Code.FailedPrecondition, null, detail), { status: 409, code: 'conflict' });
}

/** A body in a charset other than UTF-8: 415 `unsupported_media_type`, naming the charset. */
function unsupportedCharset(charset: string): ConnectError {
  const e = apiError(Code.InvalidArgument, null, `charset ${JSON.stringify(charset)} is not supported: JSON bodies must be UTF-8`);
  return answeredAs(e, { status: 415, code: 'unsupported_media_type' });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The whole body, at most `limit` bytes: a declared length over it is refused before a byte is read. @throws ConnectError 413 */
export async function readBody(req: HttpRequest, limit: number): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > limit) throw bodyTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw bodyTooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads and parses a JSON object body of at most `limit` bytes, in UTF-8 and nested at most
 * MAX_JSON_DEPTH deep. @throws ConnectError (400; 413 when too large; 415 for another charset).
 */
export async function readJson(req: HttpRequest, limit: number): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  const { mediaType, charset } = parseContentType(type);
  if (!mediaType.includes('application/json')) throw apiError(Code.InvalidArgument, null, `content-type must be application/json, got ${JSON.stringify(type)}`);
  // Decoding latin1 or UTF-16 as UTF-8 would silently change the text.
  if (!isUtf8(charset)) throw unsupportedCharset(charset!);
  const bytes = await readBody(req, limit);
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    // Not replaced with U+FFFD: a prompt the client did not send must not be generated from.
    throw apiError(Code.InvalidArgument, null, 'body is not valid UTF-8');
  }
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw apiError(Code.InvalidArgument, null, `body nests arrays and objects ${depth} levels deep; the limit is ${MAX_JSON_DEPTH}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw apiError(Code.InvalidArgument, null, `body is not valid JSON (${(err as Error).message})`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw apiError(Code.InvalidArgument, null, 'body must be a JSON object');
  return body as Record<string, unknown>;
}

export function sendJson(res: HttpResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}. */
export function errorBody(err: unknown): { status: number; body: { error: { message: string; type: string; param: string | null; code: string } } } {
  const e = ConnectError.from(err);
  const rest = restError(e);
  const answer = (e as { [ANSWER]?: RestAnswer })[ANSWER];
  if (answer) return { status: answer.status, body: { error: { message: rest.message, type: 'invalid_request_error', param: null, code: answer.code } } };
  // GATEWAY_REQUEST_TIMEOUT_MS (or an upstream deadline) ran out: 504 with code `timeout`.
  if (e.code === Code.DeadlineExceeded) return { status: 504, body: { error: { message: rest.message, type: 'timeout_error', param: null, code: 'timeout' } } };
  const status = STATUS[e.code] ?? 500;
  const code =
    e.code === Code.NotFound && rest.param === 'model'
      ? 'model_not_found'
      : e.code === Code.PermissionDenied && rest.param === 'model'
        ? 'model_not_allowed'
        : codeToString(e.code);
  return {
    status,
    body: { error: { message: status === 500 ? 'internal error' : rest.message, type: TYPE[e.code] ?? 'server_error', param: rest.param, code } },
  };
}

/** Whether `err` is one no rule answers (a bug, an unexpected upstream failure): a 500 `internal error`, worth an error log. */
export function isUnexpected(err: unknown): boolean {
  return errorBody(err).status === 500;
}

export function sendError(res: HttpResponse, err: unknown): void {
  // Already answered (e.g. 504 by the request timeout while the route was still running).
  if (res.writableEnded) return;
  const { status, body } = errorBody(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // Overload and rate-limit answers carry their hints (gRPC metadata: the worker's retry-after,
  // the limiter's x-ratelimit-*) as headers.
  const metadata = ConnectError.from(err).metadata;
  const headers: Record<string, string> = {};
  for (const name of RATE_LIMIT_HEADERS) {
    const value = metadata.get(name);
    if (value) headers[name] = value;
  }
  sendJson(res, status, body, headers);
}
