import { create, toBinary } from '@bufbuild/protobuf';
import { type Client, createClient, createRouterTransport } from '@connectrpc/connect';
import { trace } from '@opentelemetry/api';
import { type Consumption, eventOutbox, EVENTS_STREAM, NatsBus, type Outbox, SUBJECTS } from '@tokenmesh/bus';
import { createLogger } from '@tokenmesh/logging';
import { createMetrics } from '@tokenmesh/metrics';
import { CompletionEventSchema, FeedbackService } from '@tokenmesh/proto';
import { RedisStore } from '@tokenmesh/store';
import { type ServerHandle, startNats, startRedis, waitFor } from '@tokenmesh/testing';

import { FeedbackAggregates, type VariantTotals } from '../src/aggregates';
import { consumeEvents } from '../src/completion-consumer';
import { feedbackPublisher } from '../src/feedback-events';
import { ReportKeeper } from '../src/report-keeper';
import { REBUILD_LOCK_KEY, rebuildReport } from '../src/report-rebuild';
import { feedbackService } from '../src/service';

const tracer = trace.getTracer('test');

function completion(requestId: string, variant: string, totalMs: number, completionTokens: number): Uint8Array {
  return toBinary(
    CompletionEventSchema,
    create(CompletionEventSchema, { requestId, model: 'tinygpt@1', variant, usage: { completionTokens }, timings: { totalMs } }),
  );
}

const summary = (t: VariantTotals[]) => t.map((v) => [v.variant, v.completions, v.completionTokens, v.feedbackCount, v.meanRating, v.latencyP50Ms]);

// The production wiring on real nats-server (JetStream) and redis-server: submissions through
// FeedbackService with their events through the outbox, the live consumer, and the keeper.
describe('feedback report rebuilt from the JetStream stream (real NATS and Redis)', () => {
  let nats: ServerHandle;
  let redis: ServerHandle;
  let bus: NatsBus;
  let store: RedisStore;
  let aggregates: FeedbackAggregates;
  let consumption: Consumption;
  let keeper: ReportKeeper;
  let outbox: Outbox;
  let client: Client<typeof FeedbackService>;
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ service: 'feedback', level: 'info', sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const rebuilt = () => lines.filter((l) => l['msg'] === 'feedback report rebuilt from the events stream');

  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
    bus = await NatsBus.connect(nats.url);
    store = await RedisStore.connect(redis.url, { commandTimeoutMs: 300 });
    aggregates = new FeedbackAggregates(store);
    await bus.ensureStream(EVENTS_STREAM);
    outbox = eventOutbox(bus, { metrics: createMetrics('feedback'), logger, name: 'feedback' });
    client = createClient(
      FeedbackService,
      createRouterTransport((r) => r.service(FeedbackService, feedbackService(aggregates, { onFeedback: feedbackPublisher(outbox, tracer) }))),
    );
    consumption = await consumeEvents(bus, aggregates, tracer, logger);
    keeper = new ReportKeeper({ bus, store, aggregates, logger, lockMs: 10_000, checkMs: 200 });
    await keeper.start();
  });
  afterAll(async () => {
    await consumption?.stop();
    await keeper?.stop();
    await outbox?.close();
    await bus?.close();
    await store?.close();
    await Promise.all([nats?.stop(), redis?.stop()]);
  });

  async function publishCompletions(from: number, to: number): Promise<void> {
    for (let n = from; n < to; n++) {
      const variant = n % 3 === 0 ? 'canary' : 'control';
      await bus.publishDurable(SUBJECTS.completion, completion(`r${n}`, variant, 20 + (n % 7) * 30, 5 + (n % 4)), { msgId: `r${n}` });
    }
  }

  const settled = (want: (t: VariantTotals[]) => boolean) =>
    waitFor(
      async () => {
        const t = await aggregates.totals('tinygpt@1').catch(() => []);
        return want(t) && t;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  const completions = (t: VariantTotals[]) => t.reduce((s, v) => s + v.completions, 0);
  const feedback = (t: VariantTotals[]) => t.reduce((s, v) => s + v.feedbackCount, 0);

  // What publishCompletions(0, n) counts, worked out apart from the code under test.
  function expected(n: number) {
    const out = { canary: { completions: 0, tokens: 0 }, control: { completions: 0, tokens: 0 } };
    for (let i = 0; i < n; i++) {
      const v = out[i % 3 === 0 ? 'canary' : 'control'];
      v.completions++;
      v.tokens += 5 + (i % 4);
    }
    return out;
  }
  const byVariant = (t: VariantTotals[]) => Object.fromEntries(t.map((v) => [v.variant, { completions: v.completions, tokens: v.completionTokens }]));

  it('after Redis restarts empty, the rebuilt report equals the one before, exactly once, ratings included', async () => {
    await publishCompletions(0, 60);
    // A publisher retry of r1 under another message id: one completion, before and after.
    await bus.publishDurable(SUBJECTS.completion, completion('r1', 'control', 50, 6), { msgId: 'r1-retry' });
    const ratings = [1, -0.5, 0.3, 0.7, -1, 0.25];
    const ids: string[] = [];
    for (const [i, rating] of ratings.entries()) {
      const { feedbackId } = await client.submitFeedback({
        requestId: `r${i}`,
        model: 'tinygpt@1',
        variant: i % 3 === 0 ? 'canary' : 'control',
        rating,
        comment: 'kept only in Redis',
      });
      ids.push(feedbackId);
    }
    const before = await settled((t) => completions(t) === 60 && feedback(t) === ratings.length);
    expect(byVariant(before)).toEqual(expected(60));
    await waitFor(() => outbox.depth === 0); // the feedback events are in the stream

    await redis.kill('SIGTERM');
    await redis.restart(); // no persistence: every key is gone
    // Events keep coming while the store is empty and while the rebuild replays.
    await publishCompletions(60, 90);

    const after = await settled((t) => completions(t) === 90);
    expect(byVariant(after)).toEqual(expected(90));
    // Ratings from before the loss, each once, with the same means (0.3 is not float noise).
    expect(after.map((v) => [v.variant, v.feedbackCount, v.meanRating])).toEqual(before.map((v) => [v.variant, v.feedbackCount, v.meanRating]));
    const replays = rebuilt().filter((l) => l['reason'] === 'store lost the report');
    expect(replays.length).toBeGreaterThanOrEqual(1);
    expect(replays.at(-1)).toMatchObject({ feedback: ratings.length, duration_ms: expect.any(Number) });
    // Feedback submitted after the rebuild counts once in the rebuilt report.
    await client.submitFeedback({ requestId: 'r61', model: 'tinygpt@1', variant: 'control', rating: 0.5 });
    const control = (await aggregates.totals('tinygpt@1')).find((v) => v.variant === 'control')!;
    const controlBefore = before.find((v) => v.variant === 'control')!;
    expect(control.feedbackCount).toBe(controlBefore.feedbackCount + 1);
    // The record is back, whole, from its event.
    expect(await aggregates.get(ids[2]!)).toMatchObject({ requestId: 'r2', rating: 0.3, comment: 'kept only in Redis' });
    expect(lines.filter((l) => l['level'] === 'error')).toEqual([]);
  }, 60_000);

  it('an operator rebuild of an intact report: reads never see less than before, live events count once, totals equal', async () => {
    const before = await aggregates.totals('tinygpt@1');
    const base = completions(before);
    const reads: number[] = [];
    let reading = true;
    const poll = (async () => {
      while (reading) reads.push(completions(await aggregates.totals('tinygpt@1')));
    })();
    const rebuild = rebuildReport({ bus, store, aggregates, logger, reason: 'operator', lockMs: 10_000 });
    // Completions published while the replay runs: past its end, or inside it, they count once.
    await publishCompletions(90, 120);
    const result = await rebuild;
    const after = await settled((t) => completions(t) === base + 30);
    reading = false;
    await poll;

    expect(result).toMatchObject({ completions: expect.any(Number), feedback: expect.any(Number) });
    expect(reads.length).toBeGreaterThan(0);
    expect(Math.min(...reads)).toBeGreaterThanOrEqual(base);
    // Never a step back: the new generation is whole when the pointer flips to it.
    expect(reads).toEqual([...reads].sort((a, b) => a - b));
    expect(summary(after).map((v) => v[3])).toEqual(summary(before).map((v) => v[3]));
    expect(summary(after).map((v) => v[4])).toEqual(summary(before).map((v) => v[4]));
    // One more event after the rebuild: exactly one more completion.
    await publishCompletions(120, 121);
    expect(completions(await settled((t) => completions(t) >= base + 31))).toBe(base + 31);
  }, 60_000);

  it('a second rebuild while one holds the lock does nothing', async () => {
    await store.set(REBUILD_LOCK_KEY, 'someone-else', { ttlMs: 5000 });
    expect(await rebuildReport({ bus, store, aggregates, logger, reason: 'operator', lockMs: 10_000 })).toBeUndefined();
    await store.del(REBUILD_LOCK_KEY);
  });
});
