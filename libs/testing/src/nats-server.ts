import { join } from 'node:path';

import { findBinary } from './find-binary';
import { exchange } from './probe';
import { launch, type ServerHandle } from './server-process';

export interface NatsServerOptions {
  /** Enable JetStream, storing streams in the server's temp dir. */
  jetstream?: boolean;
  /** Path to nats-server; default: $NATS_SERVER_BIN, else PATH and the sbin/bin dirs. */
  binary?: string;
  /** Extra command-line arguments. */
  args?: string[];
}

/**
 * Starts a throwaway nats-server on a free 127.0.0.1 port, with JetStream stored in a temp dir
 * when asked. Resolves once a client handshake (INFO, CONNECT, PING → PONG) succeeds and, with
 * JetStream, once INFO advertises it.
 * @throws MissingBinaryError when nats-server is not installed.
 */
export async function startNats(opts: NatsServerOptions = {}): Promise<ServerHandle> {
  const binary = findBinary('nats-server', 'nats-server', opts.binary ?? process.env['NATS_SERVER_BIN']);
  return launch({
    name: 'nats-server',
    binary,
    args: (port, dir) => ['-a', '127.0.0.1', '-p', String(port), ...(opts.jetstream ? ['-js', '-sd', join(dir, 'jetstream')] : []), ...(opts.args ?? [])],
    probe: async (port) => {
      const reply = await exchange(port, {
        // The server speaks first (INFO); answer it only once the whole line is in.
        send: (r) => (r.includes('\r\n') ? 'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n' : undefined),
        done: (r) => r.includes('PONG\r\n') || r.includes('-ERR'),
      });
      if (!reply.includes('PONG\r\n')) throw new Error(reply);
      if (opts.jetstream && !/"jetstream"\s*:\s*true/.test(reply)) throw new Error('JetStream not enabled yet');
    },
    url: (port) => `nats://127.0.0.1:${port}`,
  });
}
