import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { freePort, MissingBinaryError, type ServerHandle, startNats, startRedis } from '../src';
import { accepts, alive, converse, gone } from './helpers';

describe('freePort', () => {
  it('returns a loopback port that can be bound', async () => {
    const port = await freePort();
    const srv = createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((r) => srv.close(r));
    expect(port).toBeGreaterThan(0);
  });
});

describe.each([
  ['redis-server', () => startRedis(), 'redis', 'PING\r\n', '+PONG'],
  ['nats-server', () => startNats(), 'nats', 'CONNECT {}\r\nPING\r\n', 'PONG'],
] as const)('%s launcher', (name, start, scheme, ping, pong) => {
  let server: ServerHandle | undefined;
  afterAll(() => server?.stop());

  it('starts on a free loopback port and answers as soon as it resolves', async () => {
    server = await start();
    expect(server.url).toBe(`${scheme}://127.0.0.1:${server.port}`);
    expect(await converse(server.port, ping, pong)).toContain(pong);
  });

  it('kill() is an outage that keeps the port and data dir; restart() brings it back there', async () => {
    const s = server!;
    const first = s.pid;
    await s.kill();
    expect(alive(first)).toBe(false);
    expect(await accepts(s.port)).toBe(false);
    expect(gone(s.dir)).toBe(false);
    await s.restart();
    expect(s.pid).not.toBe(first);
    expect(await converse(s.port, ping, pong)).toContain(pong);
    await expect(s.restart()).rejects.toThrow(/still running/);
  });

  it('stop() kills the process, waits for it and removes its temp dir; a second stop() is harmless', async () => {
    const s = server!;
    await s.stop();
    expect(alive(s.pid)).toBe(false);
    expect(gone(s.dir)).toBe(true);
    expect(await accepts(s.port)).toBe(false);
    await s.stop();
  });

  it('names the missing binary and the apt-get line when it is not installed', async () => {
    const binary = `/nonexistent/${name}`;
    const opts = { binary };
    const launch = name === 'redis-server' ? startRedis(opts) : startNats(opts);
    await expect(launch).rejects.toBeInstanceOf(MissingBinaryError);
    await expect(launch).rejects.toThrow(`apt-get install -y ${name}`);
  });
});

describe('startNats({ jetstream: true })', () => {
  it('advertises JetStream and stores it in its temp dir', async () => {
    const server = await startNats({ jetstream: true });
    try {
      const info = await converse(server.port, '', '\r\n');
      expect(JSON.parse(info.replace(/^INFO /, ''))).toMatchObject({ jetstream: true });
      expect(existsSync(join(server.dir, 'jetstream'))).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('finds the binary in /usr/sbin even when PATH does not list it', async () => {
    const path = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      const server = await startNats();
      await server.stop();
    } finally {
      process.env['PATH'] = path;
    }
  });
});
