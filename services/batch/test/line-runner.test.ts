import {
  BATCH_LINES_STREAM,
  BATCH_STREAMS,
  BATCH_SUBJECTS,
  type BatchRecord,
  BatchStore,
  encodeMessage,
  FILES_BUCKET,
  FileStore,
  type LineJob,
  lineMsgId,
  linesDone,
} from '@tokenmesh/batch';
import { MemoryBus } from '@tokenmesh/bus';
import { createRuntime } from '@tokenmesh/server';
import { waitFor } from '@tokenmesh/testing';

import { BatchCache } from '../src/batch-cache';
import { batchMetrics } from '../src/batch-metrics';
import { finalizeIfDone } from '../src/finalizer';
import type { GatewayCall, LineAnswer } from '../src/gateway-call';
import { runLine } from '../src/line-runner';

/** The line runner and finalizer on the in-memory bus, with a scripted gateway: retries, give-ups and the files they end in. */
describe('line runner', () => {
  let bus: MemoryBus;
  beforeEach(async () => {
    bus = new MemoryBus();
    for (const s of BATCH_STREAMS) await bus.ensureStream(s);
  });
  afterEach(() => bus.close());

  type Script = Record<string, (attempt: number) => LineAnswer | Error | Promise<LineAnswer>>;
  /**
   * `probe`: called once the lines are queued, with a scrape of the runner's metrics;
   * `finalizeFailures`: how many times finalizing the done batch fails first (a store away).
   */
  async function run(
    script: Script,
    maxAttempts = 3,
    expiresAt = Math.floor(Date.now() / 1000) + 86_400,
    probe?: (scrape: () => Promise<string>) => Promise<void>,
    finalizeFailures = 0,
  ) {
    const rt = createRuntime('batch-test');
    const batches = new BatchStore(bus);
    const files = new FileStore(() => bus.objectBucket(FILES_BUCKET));
    const id = 'batch_0123456789abcdef01234567';
    const ids = Object.keys(script);
    const record: BatchRecord = {
      id,
      owner: { keyName: 'alice' },
      endpoint: '/v1/completions',
      inputFileId: 'file-000000000000000000000000',
      completionWindow: '24h',
      metadata: null,
      createdAt: 1,
      expiresAt,
      total: ids.length,
      status: 'in_progress',
    };
    await batches.put(record);
    const calls: Record<string, number> = {};
    const keys: Record<string, Set<string>> = {};
    const call: GatewayCall = async (_url, body, owner, idempotencyKey) => {
      expect(owner.keyName).toBe('alice');
      const custom = body['prompt'] as string;
      calls[custom] = (calls[custom] ?? 0) + 1;
      (keys[custom] ??= new Set()).add(idempotencyKey);
      const answer = await script[custom]!(calls[custom]);
      if (answer instanceof Error) throw answer;
      return answer;
    };
    const cache = new BatchCache(batches);
    const deps = {
      bus,
      batches: cache,
      call,
      maxAttempts,
      requestTimeoutMs: 5000,
      ackWaitMs: 30_000,
      lineDone: async (b: string) => {
        const o = await batches.outcomes(b);
        if (finalizeFailures > 0 && linesDone(o) >= ids.length) {
          finalizeFailures--;
          throw new Error('object store unavailable');
        }
        await finalizeIfDone({ bus, batches, cache, files, logger: rt.logger }, b);
      },
      metrics: batchMetrics(rt.metrics, bus, batches),
      tracer: rt.tracer,
      logger: rt.logger,
    };
    const consumption = await bus.consume(BATCH_LINES_STREAM.name, 'batch-runners', (m) => runLine(deps, m), { concurrency: 2 });
    for (const [i, custom] of ids.entries()) {
      const job: LineJob = { batchId: id, line: i + 1, customId: custom, url: '/v1/completions', body: { prompt: custom } };
      await bus.publishDurable(BATCH_SUBJECTS.line(id), encodeMessage(job), { msgId: lineMsgId(id, custom) });
    }
    const scrape = () => rt.metrics.metrics();
    await probe?.(scrape);
    await waitFor(async () => ['completed', 'cancelled', 'expired'].includes((await batches.record(id))!.status), { timeoutMs: 10_000 });
    await consumption.stop();
    const done = (await batches.record(id))!;
    const read = async (fileId: string | undefined) =>
      fileId
        ? new TextDecoder()
            .decode((await files.content('alice', fileId))!.data)
            .trim()
            .split('\n')
            .map(
              (l) =>
                JSON.parse(l) as {
                  custom_id: string;
                  response: { status_code: number; body: unknown } | null;
                  error: { code: string; message: string } | null;
                },
            )
        : [];
    return { done, calls, keys, scrape, output: await read(done.outputFileId), errors: await read(done.errorFileId) };
  }

  const ok = (text: string): LineAnswer => ({ status: 200, requestId: `req-${text}`, body: { choices: [{ text }] } });
  const busy: LineAnswer = { status: 429, requestId: 'r', body: { error: { message: 'busy' } }, retryAfterS: 0.01 };
  const down: LineAnswer = { status: 503, requestId: 'r', body: { error: { message: 'unavailable' } }, retryAfterS: 0.01 };

  it('retries 429 and 5xx until an answer; a line that never gets one goes to the error file after maxAttempts, with the last answer', async () => {
    const { done, calls, keys, output, errors } = await run({
      a: (n) => (n < 3 ? busy : ok('A')),
      b: () => down,
      c: () => ({ status: 400, requestId: 'req-c', body: { error: { param: 'max_tokens' } } }),
    });
    expect(done.status).toBe('completed');
    // Every try of a line shares one Idempotency-Key (visible ASCII, the header's alphabet); lines differ.
    const perLine = Object.values(keys).map((k) => [...k]);
    expect(perLine.map((k) => k.length)).toEqual([1, 1, 1]);
    expect(new Set(perLine.flat()).size).toBe(3);
    for (const [k] of perLine) expect(k).toMatch(/^batch_0123456789abcdef01234567-[0-9a-f]{32}$/);
    expect(done.finalCounts).toEqual({ total: 3, completed: 1, failed: 2 });
    expect(calls).toEqual({ a: 3, b: 3, c: 1 });
    expect(output).toEqual([
      {
        id: expect.stringMatching(/^batch_req_/),
        custom_id: 'a',
        response: { status_code: 200, request_id: 'req-A', body: { choices: [{ text: 'A' }] } },
        error: null,
      },
    ]);
    expect(errors.map((e) => [e.custom_id, e.response?.status_code])).toEqual([
      ['b', 503],
      ['c', 400],
    ]);
  });

  it('finalizing fails after the last result is stored: the line is not acked, runs again (its result stored once) and the batch completes', async () => {
    const { done, calls, output } = await run({ a: () => ok('A'), b: () => ok('B') }, 3, undefined, undefined, 2);
    expect(done.status).toBe('completed');
    expect(done.finalCounts).toEqual({ total: 2, completed: 2, failed: 0 });
    // Each failed finalizing ran its line once more (the gateway answers later tries from the first one's generation, by its Idempotency-Key).
    expect(Object.values(calls).reduce((n, c) => n + c, 0)).toBe(4);
    expect(output.map((l) => l.custom_id)).toEqual(['a', 'b']);
  });

  it('a gateway that never answers: the line fails after maxAttempts with an error naming why', async () => {
    const { done, calls, errors } = await run({ x: () => new Error('connect ECONNREFUSED') }, 2);
    expect(calls).toEqual({ x: 2 });
    expect(done.finalCounts).toEqual({ total: 1, completed: 0, failed: 1 });
    expect(errors[0]!.response).toBeNull();
    expect(errors[0]!.error!.message).toMatch(/gave up after 2 attempts: no answer from the gateway: connect ECONNREFUSED/);
  });

  it('lines still queued when the completion window ends are not run: batch_expired in the error file, the batch expired with what ran', async () => {
    // Two runners take a and b at once and answer after the window; c and d are pulled after it.
    const expiresAt = Math.ceil(Date.now() / 1000) + 1; // 1 to 2 s from now
    const late = (text: string) => () => new Promise<LineAnswer>((resolve) => setTimeout(() => resolve(ok(text)), 2500));
    const { done, calls, output, errors } = await run({ a: late('A'), b: late('B'), c: () => ok('C'), d: () => ok('D') }, 3, expiresAt);
    expect(done.status).toBe('expired');
    expect(done.expiredAt).toBeGreaterThanOrEqual(expiresAt);
    expect(done.completedAt).toBeUndefined();
    expect(calls).toEqual({ a: 1, b: 1 });
    expect(output.map((l) => l.custom_id)).toEqual(['a', 'b']);
    expect(errors).toEqual(
      ['c', 'd'].map((custom_id) => ({
        id: expect.stringMatching(/^batch_req_/),
        custom_id,
        response: null,
        error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
      })),
    );
    expect(done.finalCounts).toEqual({ total: 4, completed: 2, failed: 2 });
    const view = await new BatchStore(bus).view(done);
    expect([view.status, view.expired_at, view.request_counts]).toEqual(['expired', done.expiredAt, { total: 4, completed: 2, failed: 2 }]);
  });

  it('per batch while it runs: its lines by state (from the store) and those running here; the series go once it has ended', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const held = (text: string) => async () => {
      await gate;
      return ok(text);
    };
    const series = (text: string) =>
      Object.fromEntries(
        [
          ...text.matchAll(
            /^tokenmesh_batch_(progress_lines|lines_running)\{(batch="batch_0123456789abcdef01234567"(?:,state="\w+")?),service="[^"]*"\} (\d+)$/gm,
          ),
        ].map((m) => [`${m[1]}{${m[2]}}`, Number(m[3])]),
      );
    let during: Record<string, number> = {};
    // Two runners hold a and b; c waits for one; d was answered at once.
    const { done, scrape } = await run({ d: () => ok('D'), a: held('A'), b: held('B'), c: () => ok('C') }, 3, undefined, async (scrape) => {
      try {
        await waitFor(async () => series(await scrape())['lines_running{batch="batch_0123456789abcdef01234567"}'] === 2, { timeoutMs: 5000 });
        during = series(await scrape());
      } finally {
        release();
      }
    });
    expect(done.status).toBe('completed');
    const b = 'batch="batch_0123456789abcdef01234567"';
    expect(during).toEqual({
      [`lines_running{${b}}`]: 2,
      [`progress_lines{${b},state="total"}`]: 4,
      [`progress_lines{${b},state="completed"}`]: 1,
      [`progress_lines{${b},state="failed"}`]: 0,
      [`progress_lines{${b},state="expired"}`]: 0,
      [`progress_lines{${b},state="cancelled"}`]: 0,
      [`progress_lines{${b},state="pending"}`]: 3,
    });
    // The scrape after the batch ended learns it and drops its series.
    await scrape();
    expect(series(await scrape())).toEqual({});
  });
});
