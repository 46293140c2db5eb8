import type { HttpRequest, HttpResponse } from './http-routes';

/**
 * The gRPC spec's percent-encoding of `grpc-message`: only bytes outside 0x20–0x7E, and '%'.
 * connect-node encodes with encodeURIComponent (':' becomes %3A) and grpc-js decodes with
 * decodeURI, which leaves %3A as is, so grpc-js callers would read "prompt%3A must not…".
 * Text encoded this way decodes right with both decoders.
 */
export function specGrpcMessage(value: string): string {
  let text: string;
  try {
    text = decodeURIComponent(value);
  } catch {
    return value;
  }
  return encodeGrpcMessage(text);
}

/** `text` percent-encoded for `grpc-message` as the gRPC spec says (see specGrpcMessage). */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

type NodeHeaders = Record<string, string | string[] | number | undefined>;

function rewrite(headers: unknown): void {
  if (headers && typeof headers === 'object' && !Array.isArray(headers)) {
    const h = headers as NodeHeaders;
    if (typeof h['grpc-message'] === 'string') h['grpc-message'] = specGrpcMessage(h['grpc-message']);
  }
}

/** For gRPC requests, rewrites grpc-message in the response headers (trailers-only) and trailers. */
export function useSpecGrpcMessage(req: HttpRequest, res: HttpResponse): void {
  const type = req.headers['content-type'];
  if (typeof type !== 'string' || !type.startsWith('application/grpc')) return;
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => HttpResponse;
  const addTrailers = res.addTrailers.bind(res) as (t: NodeHeaders) => void;
  (res as { writeHead: unknown }).writeHead = (...args: unknown[]) => {
    rewrite(args[1]);
    rewrite(args[2]);
    return writeHead(...args);
  };
  (res as { addTrailers: unknown }).addTrailers = (trailers: NodeHeaders) => {
    rewrite(trailers);
    addTrailers(trailers);
  };
}
