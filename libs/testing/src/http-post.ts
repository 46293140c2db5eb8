import { type Agent, request } from 'node:http';

/** An HTTP/1.1 answer read to its end. */
export interface PostAnswer {
  readonly status: number;
  readonly text: string;
  /** performance.now() when the request was handed to the socket in full: a load client's own queueing ends there. */
  readonly sentAt: number;
}

/**
 * POSTs `body` as JSON to `url` over `agent` (a keep-alive pool: load tests open their sockets
 * once) and reads the answer to its end; `onChunk` sees each read as it arrives, for timing
 * streams. Rejects on a connection error.
 */
export function postJson(agent: Agent, url: string, body: unknown, onChunk?: (chunk: string) => void): Promise<PostAnswer> {
  const u = new URL(url);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    let sentAt = NaN;
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          onChunk?.(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, sentAt }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('finish', () => (sentAt = performance.now()));
    req.end(payload);
  });
}

/** The error event of an SSE body (`data: {"error": …}`; a text delta may well say "error"), if any. */
export function sseError(text: string, chars = 200): string | undefined {
  const at = text.indexOf('data: {"error"');
  return at < 0 ? undefined : text.slice(at, at + chars);
}
