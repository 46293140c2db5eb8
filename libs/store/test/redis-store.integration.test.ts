import { startRedis } from '@tokenmesh/testing';
import { Redis } from 'ioredis';

import { RedisStore } from '../src';
import { storeContract } from './contract';

storeContract('RedisStore (redis-server)', async () => {
  const server = await startRedis();
  // A client without a prefix sees keys exactly as stored.
  const raw = new Redis(server.url, { lazyConnect: true });
  await raw.connect();
  return {
    open: (opts) => RedisStore.connect(server.url, opts),
    rawKeys: () => raw.keys('*'),
    teardown: async () => {
      await raw.quit();
      await server.stop();
    },
  };
});

describe('RedisStore.connect', () => {
  it('fails fast, naming the URL, when nothing listens there', async () => {
    const server = await startRedis();
    const url = server.url;
    await server.stop();
    const t0 = Date.now();
    await expect(RedisStore.connect(url, { connectTimeoutMs: 1000 })).rejects.toThrow(`cannot connect to Redis at ${url}`);
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});
