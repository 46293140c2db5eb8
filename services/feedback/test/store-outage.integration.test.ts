import { create, toBinary } from '@bufbuild/protobuf';
import { trace } from '@opentelemetry/api';
import { type Consumption, EVENTS_STREAM, MemoryBus, SUBJECTS } from '@tokenmesh/bus';
import { createLogger } from '@tokenmesh/logging';
import { CompletionEventSchema } from '@tokenmesh/proto';
import { RedisStore } from '@tokenmesh/store';
import { type ServerHandle, startRedis, waitFor } from '@tokenmesh/testing';

import { FeedbackAggregates } from '../src/aggregates';
import { consumeEvents } from '../src/completion-consumer';
import { ReportKeeper } from '../src/report-keeper';

// Redis down while completion events arrive: the consumer naks with a delay; Redis comes back
// empty (no persistence), the report is rebuilt from the stream, and the event counts once.
describe('completion consumer through a Redis outage', () => {
  let redis: ServerHandle;
  let store: RedisStore;
  const bus = new MemoryBus();
  let consumption: Consumption | undefined;
  let keeper: ReportKeeper | undefined;
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ service: 'feedback', level: 'info', sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });

  beforeAll(async () => {
    redis = await startRedis();
    store = await RedisStore.connect(redis.url, { commandTimeoutMs: 300 });
    await bus.ensureStream(EVENTS_STREAM);
  });
  afterAll(async () => {
    await consumption?.stop();
    await keeper?.stop();
    await bus.close();
    await store?.close();
    await redis?.stop();
  });

  it('redelivers after a store failure instead of dropping the event, and counts it once', async () => {
    const aggregates = new FeedbackAggregates(store);
    keeper = new ReportKeeper({ bus, store, aggregates, logger, lockMs: 10_000, checkMs: 200 });
    await keeper.start();
    consumption = await consumeEvents(bus, aggregates, trace.getTracer('test'), logger);
    await redis.kill('SIGTERM');
    const event = create(CompletionEventSchema, {
      requestId: 'r-outage',
      model: 'tinygpt@1',
      variant: 'a',
      usage: { completionTokens: 3 },
      timings: { totalMs: 12 },
    });
    await bus.publishDurable(SUBJECTS.completion, toBinary(CompletionEventSchema, event), { msgId: 'r-outage' });
    const retry = await waitFor(() => lines.find((l) => l['msg'] === 'completion not counted yet: the store failed; redelivering'), { timeoutMs: 20_000 });
    expect(retry).toMatchObject({ request_id: 'r-outage', delivery: 1, retry_in_ms: 1000 });
    await redis.restart();
    const totals = await waitFor(
      async () => {
        const t = await aggregates.totals().catch(() => []);
        return t.length > 0 && t;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(totals).toEqual([expect.objectContaining({ model: 'tinygpt@1', variant: 'a', completions: 1, completionTokens: 3 })]);
    // The restarted Redis is empty: the report came back through a rebuild, not the old keys.
    expect(lines.filter((l) => l['msg'] === 'feedback report rebuilt from the events stream').map((l) => l['reason'])).toEqual([
      'start',
      'store lost the report',
    ]);
    // The redelivery and the replay may both have met the event: still one completion.
    expect((await aggregates.totals())[0]?.completions).toBe(1);
  }, 60_000);
});
