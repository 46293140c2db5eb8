import { type Client, Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { FeedbackService } from '@tokenmesh/proto';
import { MemoryStore, RedisStore, type Store } from '@tokenmesh/store';
import { type ServerHandle, startRedis } from '@tokenmesh/testing';

import { FeedbackAggregates } from '../src/aggregates';
import { feedbackService } from '../src/service';

// The same behaviour on the embedded store (npm start) and on a real redis-server.
describe.each([
  ['memory', async () => ({ store: new MemoryStore() as Store, stop: async () => undefined })],
  [
    'redis',
    async () => {
      const redis: ServerHandle = await startRedis();
      return { store: (await RedisStore.connect(redis.url)) as Store, stop: () => redis.stop() };
    },
  ],
])('FeedbackService on the %s store', (_, open) => {
  let store: Store;
  let stop: () => Promise<void>;
  let client: Client<typeof FeedbackService>;
  let aggregates: FeedbackAggregates;

  beforeAll(async () => {
    ({ store, stop } = await open());
    aggregates = new FeedbackAggregates(store);
    // No events stream here to rebuild from: a report generation of its own.
    await aggregates.generations.write({ live: 'g-test' });
    client = createClient(
      FeedbackService,
      createRouterTransport((r) => r.service(FeedbackService, feedbackService(aggregates, { now: () => 1000 }))),
    );
  });
  afterAll(async () => {
    await store.close();
    await stop();
  });

  it('stores feedback and reports mean rating per model and variant', async () => {
    const a = await client.submitFeedback({ requestId: 'r1', model: 'tinygpt@1', variant: 'control', rating: 1, comment: 'good', labels: { topic: 'bible' } });
    await client.submitFeedback({ requestId: 'r2', model: 'tinygpt@1', variant: 'control', rating: -0.5 });
    await client.submitFeedback({ requestId: 'r3', model: 'tinygpt@2', variant: 'canary', rating: 0.25 });
    await client.submitFeedback({ requestId: 'r4', model: 'tinyllama@1', variant: '', rating: 0 });
    expect(await aggregates.get(a.feedbackId)).toMatchObject({ requestId: 'r1', rating: 1, comment: 'good', labels: { topic: 'bible' }, receivedAtMs: 1000 });

    const all = await client.getReport({});
    expect(all.variants.map((v) => [v.model, v.variant, Number(v.feedbackCount), v.meanRating])).toEqual([
      ['tinygpt@1', 'control', 2, 0.25],
      ['tinygpt@2', 'canary', 1, 0.25],
      ['tinyllama@1', '', 1, 0],
    ]);
    expect((await client.getReport({ model: 'tinygpt@2' })).variants).toHaveLength(1);
  });

  it.each([
    ['no request_id', { rating: 1 }, 'request_id: is required'],
    ['rating 2', { requestId: 'r', rating: 2 }, 'rating: must be in [-1, 1], got 2'],
    ['rating NaN', { requestId: 'r', rating: NaN }, 'rating: must be in [-1, 1], got NaN'],
    ['a 5000-character comment', { requestId: 'r', rating: 0, comment: 'x'.repeat(5000) }, 'comment: must be at most 4096 characters'],
  ])('rejects %s naming the field', async (_, req, message) => {
    const err = await client.submitFeedback(req).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toContain(message);
  });
});
