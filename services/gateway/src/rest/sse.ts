import type { HttpResponse } from '@tokenmesh/server';

/** Server-sent events: one `data:` line per JSON event, `data: [DONE]` at the end (OpenAI's framing). */
export class SseWriter {
  constructor(private readonly res: HttpResponse) {}

  open(headers: Record<string, string> = {}): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // Proxies such as nginx buffer responses unless told not to.
      'x-accel-buffering': 'no',
      ...headers,
    });
    // HTTP/1.1 would hold the headers until the first chunk; send them now.
    if ('flushHeaders' in this.res) this.res.flushHeaders();
  }

  /** Whether events can still reach the client (it has not gone away, the stream is not ended). */
  get writable(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  send(event: unknown): void {
    if (this.writable) this.res.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  done(): void {
    if (this.writable) this.res.end('data: [DONE]\n\n');
  }
}
