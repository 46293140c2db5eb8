import { Code, ConnectError, createContextKey, createContextValues, type Interceptor, type StreamRequest } from '@connectrpc/connect';
import { createAsyncIterable, type UniversalHandler, type UniversalServerRequest, type UniversalServerResponse } from '@connectrpc/connect/protocol';
import { codeToHttpStatus, errorFromJsonBytes, errorToJsonBytes, headerUnaryContentLength, headerUnaryEncoding } from '@connectrpc/connect/protocol-connect';
import { contentTypeRegExp as grpcContentType, findTrailerError, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { contentTypeRegExp as grpcWebContentType, trailerFlag, trailerParse, trailerSerialize } from '@connectrpc/connect/protocol-grpc-web';

// connect-es 2.1 parses protobuf binary with one Serialization for requests and responses alike,
// and it reports every failure as INTERNAL "parse binary: …" (protocol/serialization.ts,
// createBinarySerialization), while a malformed JSON body is INVALID_ARGUMENT. A request body
// that is not the method's input message is the caller's fault: INVALID_ARGUMENT (HTTP 400 over
// Connect), never a 5xx. Connect offers no hook into that Serialization (binaryOptions only
// reach fromBinary's read options), and for unary methods it parses the request before any
// interceptor runs. So:
// - streaming requests are parsed lazily, inside the interceptor chain: the interceptor below
//   reclassifies the error where the request stream throws it;
// - unary requests: the handler wrapper below looks at the answer only when the interceptors
//   never ran (so the implementation never ran and the answer is connect's own error) and, if it
//   is that parse error, renders INVALID_ARGUMENT in the same protocol instead.
// Both check that the error came from decoding this call's request: a handler that passes on an
// upstream server's undecodable *response* (rightly INTERNAL) is left alone.

const PARSE_BINARY = 'parse binary: ';

/** Per network call: set by the handler wrapper, marked by the interceptor. In-process calls have none. */
const REQUEST_DECODE = createContextKey<{ intercepted: boolean } | undefined>(undefined, { description: 'request decode state' });

/** The INVALID_ARGUMENT for connect's request parse error `err`, or undefined when `err` is another error. */
function decodeError(err: ConnectError | undefined, inputTypeName: string): ConnectError | undefined {
  if (err?.code !== Code.Internal || !err.rawMessage.startsWith(PARSE_BINARY)) return undefined;
  const why = err.rawMessage.slice(PARSE_BINARY.length);
  return new ConnectError(`${inputTypeName}: the request body could not be decoded (invalid protobuf binary: ${why})`, Code.InvalidArgument);
}

async function* reclassified<T>(messages: AsyncIterable<T>, inputTypeName: string): AsyncGenerator<T> {
  try {
    yield* messages;
  } catch (err) {
    throw (err instanceof ConnectError ? decodeError(err, inputTypeName) : undefined) ?? err;
  }
}

/**
 * Server interceptor, outermost: marks that connect decoded a unary request (see
 * `withRequestDecodeErrors`), and turns a streaming request's undecodable message into
 * INVALID_ARGUMENT where the request stream throws it, so every inner interceptor (metrics,
 * tracing) and the implementation see the caller's error.
 */
export const requestDecodeInterceptor: Interceptor = (next) => (req) => {
  const state = req.contextValues.get(REQUEST_DECODE);
  if (!state) return next(req);
  state.intercepted = true;
  if (!req.stream) return next(req);
  const stream: StreamRequest = { ...req, message: reclassified(req.message, req.method.input.typeName) };
  return next(stream as typeof req);
};

/** An error answer's body: a few hundred bytes at most, the implementation never ran. */
async function readAll(body: UniversalServerResponse['body']): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body ?? []) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const replay = (res: UniversalServerResponse, body: Uint8Array): UniversalServerResponse => ({ ...res, body: createAsyncIterable([body]) });

/** gRPC: the status is in the trailers, already set when the handler answers. */
function grpcAnswer(res: UniversalServerResponse, typeName: string): UniversalServerResponse {
  const err = res.trailer && decodeError(findTrailerError(res.trailer), typeName);
  if (err && res.trailer) setTrailerStatus(res.trailer, err);
  return res;
}

/** gRPC-Web: the trailers are the body's only envelope (flag 0x80; left alone if compressed). */
async function grpcWebAnswer(res: UniversalServerResponse, typeName: string): Promise<UniversalServerResponse> {
  const body = await readAll(res.body);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (body.byteLength < 5 || body[0] !== trailerFlag || view.getUint32(1) !== body.byteLength - 5) return replay(res, body);
  const trailer = trailerParse(body.subarray(5));
  const err = decodeError(findTrailerError(trailer), typeName);
  if (!err) return replay(res, body);
  const data = trailerSerialize(setTrailerStatus(trailer, err));
  const envelope = new Uint8Array(5 + data.byteLength);
  envelope[0] = trailerFlag;
  new DataView(envelope.buffer).setUint32(1, data.byteLength);
  envelope.set(data, 5);
  return replay(res, envelope);
}

/** Connect unary: an error is a JSON body with the code's HTTP status (left alone if compressed). */
async function connectAnswer(res: UniversalServerResponse, typeName: string): Promise<UniversalServerResponse> {
  if (res.status === 200 || res.header?.has(headerUnaryEncoding)) return res;
  const body = await readAll(res.body);
  let err: ConnectError | undefined;
  try {
    err = decodeError(errorFromJsonBytes(body, undefined, new ConnectError('', Code.Unknown)), typeName);
  } catch {
    err = undefined;
  }
  if (!err) return replay(res, body);
  const json = errorToJsonBytes(err, {});
  const header = new Headers(res.header);
  header.set(headerUnaryContentLength, String(json.byteLength));
  return { ...replay(res, json), status: codeToHttpStatus(err.code), header };
}

/**
 * Wraps a router's handler so that a unary request body connect cannot decode is answered
 * INVALID_ARGUMENT / HTTP 400 naming the message type, not INTERNAL / 500; gives every call the
 * state `requestDecodeInterceptor` marks. Successful calls and errors from handlers pass untouched.
 */
export function withRequestDecodeErrors(handler: UniversalHandler): UniversalHandler {
  const typeName = handler.method.input.typeName;
  const unary = handler.method.methodKind === 'unary';
  const wrapped = async (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const state = { intercepted: false };
    const contextValues = (req.contextValues ?? createContextValues()).set(REQUEST_DECODE, state);
    const res = await handler({ ...req, contextValues });
    if (!unary || state.intercepted) return res;
    // One handler serves the three protocols; the answer's content type says which one answered.
    const type = res.header?.get('content-type') ?? '';
    if (grpcWebContentType.test(type)) return grpcWebAnswer(res, typeName);
    if (grpcContentType.test(type)) return grpcAnswer(res, typeName);
    return connectAnswer(res, typeName);
  };
  return Object.assign(wrapped, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}
