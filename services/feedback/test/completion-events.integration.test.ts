import { create, toBinary } from '@bufbuild/protobuf';
import { trace } from '@opentelemetry/api';
import { type Bus, type Consumption, EVENTS_STREAM, MemoryBus, NatsBus, SUBJECTS } from '@tokenmesh/bus';
import { createLogger } from '@tokenmesh/logging';
import { CompletionEventSchema } from '@tokenmesh/proto';
import { MemoryStore, RedisStore, type Store } from '@tokenmesh/store';
import { type ServerHandle, startNats, startRedis, waitFor } from '@tokenmesh/testing';

import { FeedbackAggregates } from '../src/aggregates';
import { consumeEvents } from '../src/completion-consumer';
import { rebuildReport } from '../src/report-rebuild';

const log = createLogger({ service: 'feedback', level: 'error' });

function completion(requestId: string, variant: string, totalMs: number, completionTokens: number): Uint8Array {
  return toBinary(
    CompletionEventSchema,
    create(CompletionEventSchema, { requestId, model: 'tinygpt@1', variant, usage: { completionTokens }, timings: { totalMs } }),
  );
}

// The same flow on the embedded backends (npm start) and on real nats-server and redis-server.
describe.each([
  ['memory bus and store', async () => ({ bus: new MemoryBus() as Bus, store: new MemoryStore() as Store, servers: [] as ServerHandle[] })],
  [
    'NATS JetStream and Redis',
    async () => {
      const [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
      return { bus: (await NatsBus.connect(nats.url)) as Bus, store: (await RedisStore.connect(redis.url)) as Store, servers: [nats, redis] };
    },
  ],
])('completion events into reports over %s', (_, open) => {
  let bus: Bus;
  let store: Store;
  let servers: ServerHandle[];
  let consumption: Consumption;
  let aggregates: FeedbackAggregates;

  beforeAll(async () => {
    ({ bus, store, servers } = await open());
    aggregates = new FeedbackAggregates(store);
    await bus.ensureStream(EVENTS_STREAM);
    // As at service start: the store has no report yet, so it is built from the (empty) stream.
    await rebuildReport({ bus, store, aggregates, logger: log, reason: 'start', lockMs: 10_000 });
    consumption = await consumeEvents(bus, aggregates, trace.getTracer('test'), log);
  });
  afterAll(async () => {
    await consumption.stop();
    await bus.close();
    await store.close();
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('counts completions, tokens and latency per variant, each request once', async () => {
    await bus.publishDurable(SUBJECTS.completion, completion('r1', 'a', 40, 10), { msgId: 'r1' });
    await bus.publishDurable(SUBJECTS.completion, completion('r2', 'a', 80, 10), { msgId: 'r2' });
    await bus.publishDurable(SUBJECTS.completion, completion('r3', 'a', 300, 10), { msgId: 'r3' });
    await bus.publishDurable(SUBJECTS.completion, completion('r4', 'b', 30, 5), { msgId: 'r4' });
    // The same request again under another message id (a publisher retry after the dedup window):
    // the store-level dedup still counts it once.
    await bus.publishDurable(SUBJECTS.completion, completion('r1', 'a', 40, 10), { msgId: 'r1-retry' });
    // Feedback events share the stream and are not completions (this one is malformed: logged and skipped).
    await bus.publishDurable(SUBJECTS.feedback, new Uint8Array([1, 2]), { msgId: 'f1' });
    await bus.publishDurable(SUBJECTS.completion, completion('r5', 'b', 35, 5), { msgId: 'r5' });

    const totals = await waitFor(async () => {
      const t = await aggregates.totals('tinygpt@1');
      if (t.find((v) => v.variant === 'b')?.completions !== 2) throw new Error('not yet');
      return t;
    });
    const a = totals.find((v) => v.variant === 'a')!;
    expect(a).toMatchObject({ completions: 3, completionTokens: 30 });
    expect(a.latencyP50Ms).toBeGreaterThan(50);
    expect(a.latencyP50Ms).toBeLessThanOrEqual(100);
    expect(a.latencyP99Ms).toBeGreaterThan(250);
    expect(a.latencyP99Ms).toBeLessThanOrEqual(500);
    expect(totals.find((v) => v.variant === 'b')).toMatchObject({ completions: 2, completionTokens: 10 });
  });
});
