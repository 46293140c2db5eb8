import { findBinary } from './find-binary';
import { exchange } from './probe';
import { launch, type ServerHandle } from './server-process';

export interface RedisServerOptions {
  /** Path to redis-server; default: $REDIS_SERVER_BIN, else PATH and the sbin/bin dirs. */
  binary?: string;
  /** Extra command-line arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
}

/**
 * Starts a throwaway redis-server on a free 127.0.0.1 port: no persistence, data dir in a temp
 * dir. Resolves once it answers PING.
 * @throws MissingBinaryError when redis-server is not installed.
 */
export async function startRedis(opts: RedisServerOptions = {}): Promise<ServerHandle> {
  const binary = findBinary('redis-server', 'redis-server', opts.binary ?? process.env['REDIS_SERVER_BIN']);
  return launch({
    name: 'redis-server',
    binary,
    // `--save ''` and no AOF: nothing to write at shutdown, so SIGTERM stops it at once.
    args: (port, dir) => [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      ...(opts.args ?? []),
    ],
    probe: async (port) => {
      const reply = await exchange(port, { send: () => 'PING\r\n', done: (r) => r.includes('\r\n') });
      // -LOADING and friends mean "up but not ready": keep polling.
      if (!reply.startsWith('+PONG')) throw new Error(reply);
    },
    url: (port) => `redis://127.0.0.1:${port}`,
  });
}
