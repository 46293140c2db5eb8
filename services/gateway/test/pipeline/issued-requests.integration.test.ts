import { createLogger } from '@tokenmesh/logging';
import { RedisStore, StoreUnavailableError } from '@tokenmesh/store';
import { type ServerHandle, startRedis } from '@tokenmesh/testing';

import { IssuedRequests } from '../../src/pipeline/issued-requests';

// Written after every completion: a Redis outage must cost neither a log line per completion nor a
// wrong answer — ids this process knows are still checked, the others cannot be.
describe('IssuedRequests while Redis is down', () => {
  let redis: ServerHandle;
  let store: RedisStore;
  const lines: string[] = [];
  const logger = createLogger({ service: 'gateway', level: 'info', sink: (l) => lines.push((JSON.parse(l) as { msg: string }).msg) });

  beforeAll(async () => {
    redis = await startRedis();
    store = await RedisStore.connect(redis.url, { commandTimeoutMs: 200 });
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
  });

  it('logs the outage once, keeps answering from the process, and refuses to guess about foreign ids', async () => {
    const issued = new IssuedRequests(store, { logger, timeoutMs: 100, breaker: { failures: 2, cooldownMs: 60_000, maxCooldownMs: 60_000 } });
    issued.remember({ requestId: 'before', model: 'tinygpt@1', variant: 'a' });
    await redis.kill('SIGTERM');
    for (let i = 0; i < 20; i++) issued.remember({ requestId: `r${i}`, model: 'tinygpt@1', variant: 'a' });
    await new Promise((r) => setTimeout(r, 300));
    expect(await issued.lookup('r7')).toEqual({ model: 'tinygpt@1', variant: 'a' });
    await expect(issued.lookup('another-replica')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(lines.filter((m) => m.startsWith('issued-requests store failing'))).toHaveLength(1);
  });
});
