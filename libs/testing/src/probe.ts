import { connect } from 'node:net';

/**
 * Opens a TCP connection to 127.0.0.1:`port`, writes what `send(received)` returns as soon as it
 * returns a string (at connect, or after the server's first bytes for servers that speak
 * first), and resolves with everything received once `done(received)` holds. Rejects on a
 * refused connection, a closed socket or after `timeoutMs`.
 */
export function exchange(
  port: number,
  opts: { send: (received: string) => string | undefined; done: (received: string) => boolean; timeoutMs?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    let sent = false;
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(received);
    };
    const timer = setTimeout(() => finish(new Error(`no answer on port ${port}`)), opts.timeoutMs ?? 1000);
    const maybeSend = (): void => {
      if (sent) return;
      const out = opts.send(received);
      if (out === undefined) return;
      sent = true;
      socket.write(out);
    };
    socket.on('connect', maybeSend);
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      if (opts.done(received)) finish();
      else maybeSend();
    });
    socket.on('error', finish);
    socket.on('close', () => finish(new Error(`port ${port} closed the connection`)));
  });
}
