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

  /**
   * Writes one event; resolves once the socket has taken it (at once when the client is gone).
   * A caller that awaits it reads its next event only then: while a slow client's socket is
   * full, the tokens generated meanwhile wait upstream and go out together as one event.
   */
  send(event: unknown): Promise<void> {
    if (!this.writable) return Promise.resolve();
    return new Promise((resolve) => this.res.write(`data: ${JSON.stringify(event)}\n\n`, () => resolve()));
  }

  done(): void {
    if (this.writable) this.res.end('data: [DONE]\n\n');
  }
}
