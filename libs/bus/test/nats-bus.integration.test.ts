import { startNats, waitFor } from '@tokenmesh/testing';

import { NatsBus } from '../src';
import { busContract } from './contract';

busContract('NatsBus (nats-server with JetStream)', async () => {
  const server = await startNats({ jetstream: true });
  return {
    connect: (opts) => NatsBus.connect(server.url, { name: 'contract-test', ...opts }),
    teardown: () => server.stop(),
  };
});

describe('NatsBus beyond the contract', () => {
  it('serves core pub/sub from a server without JetStream; durable calls fail plainly', async () => {
    const server = await startNats();
    const bus = await NatsBus.connect(server.url);
    try {
      const got: string[] = [];
      await bus.subscribe('tokenmesh.workers.heartbeat.*', (m) => void got.push(m.subject));
      bus.publish('tokenmesh.workers.heartbeat.w1', new Uint8Array([1]));
      await waitFor(() => got.length === 1);
      await expect(bus.ensureStream({ name: 'S', subjects: ['s.>'], retention: 'limits' })).rejects.toThrow('JetStream is not available');
    } finally {
      await bus.close();
      await server.stop();
    }
  });

  it('keeps object bucket contents across a server restart (file storage)', async () => {
    const server = await startNats({ jetstream: true });
    const bus = await NatsBus.connect(server.url, { reconnectWaitMs: 50 });
    try {
      const bucket = await bus.objectBucket('FILES');
      await bucket.put('file-a', new TextEncoder().encode('kept'), { owner: 'k' });
      await server.kill('SIGTERM');
      await server.restart();
      await waitFor(() => bus.connected, { timeoutMs: 10_000 });
      expect(new TextDecoder().decode(await bucket.get('file-a'))).toBe('kept');
      expect((await bucket.info('file-a'))?.meta).toEqual({ owner: 'k' });
    } finally {
      await bus.close();
      await server.stop();
    }
  });

  it('fails to connect with an error naming the URL', async () => {
    const server = await startNats();
    await server.stop();
    await expect(NatsBus.connect(server.url, { connectTimeoutMs: 1000 })).rejects.toThrow(`cannot connect to NATS at ${server.url}`);
  });

  it('closes within the drain timeout when the server has gone away', async () => {
    const server = await startNats();
    const bus = await NatsBus.connect(server.url, { drainTimeoutMs: 200 });
    await bus.subscribe('x', () => undefined);
    await server.stop();
    const t0 = Date.now();
    await bus.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(() => bus.publish('x', new Uint8Array())).toThrow(expect.objectContaining({ code: 'closed' }));
  });

  it('reports the connection down while the server is away and up again once it is back on its port', async () => {
    const server = await startNats();
    const bus = await NatsBus.connect(server.url, { reconnectWaitMs: 50 });
    const heard: boolean[] = [];
    bus.onConnectionChange((c) => heard.push(c));
    try {
      await server.kill('SIGTERM');
      await waitFor(() => !bus.connected);
      expect(heard).toEqual([false]);
      // The same port again, so the client's reconnect finds it.
      await server.restart();
      await waitFor(() => bus.connected, { timeoutMs: 10_000 });
      expect(heard).toEqual([false, true]);
    } finally {
      await bus.close();
      await server.stop();
    }
  });
});
