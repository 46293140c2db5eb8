import { resolve } from 'node:path';

import { Code, ConnectError } from '@connectrpc/connect';
import { metricSum } from '@tokenmesh/metrics';
import { FinishReason, GenerationService } from '@tokenmesh/proto';
import { createRuntime, createServiceClient, type RunningService, type ServiceClient, type ServiceRuntime } from '@tokenmesh/server';
import { type ServerHandle, type ServiceProcess, startNats, startServiceProcess, waitFor } from '@tokenmesh/testing';

import { loadConfig, start } from '../src';

const MODEL = resolve(__dirname, '../../../models/tinygpt');

interface Outcome {
  tokens: number;
  workers: string[];
  finish?: FinishReason;
  error?: ConnectError;
  /** Tokens received before `mark()` was called. */
  tokensAtMark: number;
}

/**
 * Real NATS, real inference worker processes on tinygpt (heartbeats every 200 ms) and the router
 * in this process, so the test can read its metrics. Workers are told apart by the worker_id of
 * the messages they stream.
 */
describe('router with discovered workers (real NATS, real workers)', () => {
  let nats: ServerHandle;
  let rt: ServiceRuntime;
  let router: RunningService;
  let client: ServiceClient<typeof GenerationService>;
  const workers = new Map<string, ServiceProcess>();

  const startWorker = (id: string, extra: Record<string, string> = {}) =>
    startServiceProcess('inference', {
      NATS_URL: nats.url,
      INFERENCE_PORT: '0',
      INFERENCE_HTTP_PORT: '0',
      INFERENCE_MODELS: MODEL,
      INFERENCE_WORKER_ID: id,
      INFERENCE_HEARTBEAT_MS: '200',
      ...extra,
    }).then((p) => (workers.set(id, p), p));

  async function generate(maxTokens: number, opts: { onToken?: (worker: string) => void; isMarked?: () => boolean } = {}): Promise<Outcome> {
    const out: Outcome = { tokens: 0, workers: [], tokensAtMark: 0 };
    try {
      for await (const m of client.client.generate(
        { model: 'tinygpt', promptTokenIds: [10, 20, 30], sampling: { maxTokens, temperature: 0 } },
        { timeoutMs: 30_000 },
      )) {
        out.tokens += m.tokenIds.length;
        if (!opts.isMarked?.()) out.tokensAtMark = out.tokens;
        if (!out.workers.includes(m.workerId)) out.workers.push(m.workerId);
        if (m.finishReason !== FinishReason.UNSPECIFIED) out.finish = m.finishReason;
        opts.onToken?.(m.workerId);
      }
    } catch (e) {
      out.error = ConnectError.from(e);
    }
    return out;
  }

  const counter = (name: string, worker: string) => metricSum(rt.metrics, name, { worker });
  const attempts = (worker: string) => counter('tokenmesh_router_worker_requests_total', worker);
  const retries = (worker: string) => counter('tokenmesh_router_worker_retries_total', worker);

  beforeAll(async () => {
    nats = await startNats();
    rt = createRuntime('router');
    router = await start(loadConfig({ NATS_URL: nats.url, ROUTER_PORT: '0', ROUTER_HTTP_PORT: '0', ROUTER_HEARTBEAT_MS: '200' }), rt);
    client = createServiceClient(GenerationService, router.server.url);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await router?.close(1000);
    await Promise.all([...workers.values()].map((w) => w.stop(5000)));
    await nats?.stop();
  }, 60_000);

  it('uses a worker within 2 s of its start, and keeps none that was SIGKILLed past 3 s', async () => {
    const w1 = await startWorker('w1');
    const started = Date.now();
    await waitFor(async () => (await generate(1)).workers.includes('w1'), { timeoutMs: 2000, intervalMs: 50 });
    expect(Date.now() - started).toBeLessThan(2000);

    const w2 = await startWorker('w2');
    await waitFor(async () => (await generate(1)).workers.includes('w2'), { timeoutMs: 2000, intervalMs: 20 });
    const served = async () => (await client.client.listServedModels({})).models.map((m) => [`${m.name}@${m.version}`, m.workers, m.contextLength]);
    expect(await served()).toEqual([['tinygpt@1', 2, 512]]);
    w2.child.kill('SIGKILL');
    await w2.exited;
    const killed = Date.now();
    // Every request still succeeds (a call that meets the dead worker is retried) ...
    const servedBy: string[] = [];
    while (Date.now() - killed < 3000) {
      const r = await generate(1);
      expect(r.error).toBeUndefined();
      servedBy.push(...r.workers);
    }
    expect(servedBy.every((w) => w === 'w1')).toBe(true);
    // ... and after 3 s the router no longer even tries it, nor lists it.
    expect(await served()).toEqual([['tinygpt@1', 1, 512]]);
    const before = await attempts('w2');
    for (let i = 0; i < 20; i++) await generate(1);
    expect(await attempts('w2')).toBe(before);
    expect(w1.child.exitCode).toBeNull();
  }, 60_000);

  it('a draining worker finishes its streams and gets no new ones', async () => {
    if (!workers.has('w1')) await startWorker('w1');
    const slow = await startWorker('w3', { INFERENCE_STEP_DELAY_MS: '40' });
    await waitFor(async () => (await generate(1)).workers.includes('w3'), { timeoutMs: 3000, intervalMs: 20 });
    // Open streams until some are flowing on w3.
    let onW3 = 0;
    const streams = Array.from({ length: 6 }, () => generate(40));
    await new Promise((r) => setTimeout(r, 300));
    slow.child.kill('SIGTERM');
    const termAt = Date.now();
    const during: Outcome[] = [];
    while (slow.child.exitCode === null && Date.now() - termAt < 10_000) {
      // Heartbeats announce draining at once: allow one period for it to arrive.
      if (Date.now() - termAt > 250) during.push(await generate(2));
      else await new Promise((r) => setTimeout(r, 20));
    }
    const results = await Promise.all(streams);
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.tokens).toBe(40);
      expect(r.workers.length).toBe(1);
      if (r.workers[0] === 'w3') onW3++;
    }
    expect(onW3).toBeGreaterThan(0);
    expect(during.length).toBeGreaterThan(0);
    expect(during.filter((r) => r.error || r.workers.includes('w3'))).toEqual([]);
    expect(await slow.exited).toBe(0);
  }, 60_000);

  it('killing one of two workers under 50 streams: streams without tokens succeed elsewhere, flowing ones end UNAVAILABLE, none hangs', async () => {
    if (!workers.has('w1')) await startWorker('w1');
    // A batch of 20 leaves a few of its ~25 requests queued (no token yet) when it dies: fewer
    // than the retry budget (20% of the 50), so every one of them must be retried.
    const victim = await startWorker('w4', { INFERENCE_STEP_DELAY_MS: '30', INFERENCE_MAX_BATCH_SIZE: '20' });
    await waitFor(async () => (await generate(1)).workers.includes('w4'), { timeoutMs: 3000, intervalMs: 20 });
    let marked = false;
    let victimTokens = 0;
    const streams = Array.from({ length: 50 }, () => generate(48, { onToken: (w) => w === 'w4' && victimTokens++, isMarked: () => marked }));
    // Its first batch of 20 is streaming; the rest of its share waits in its queue for ~48 steps.
    await waitFor(() => victimTokens >= 20, { timeoutMs: 20_000, intervalMs: 2 });
    marked = true;
    victim.child.kill('SIGKILL');
    const results = await Promise.race([Promise.all(streams), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('a stream hung')), 30_000))]);
    const failed = results.filter((r) => r.error);
    const ok = results.filter((r) => !r.error);
    for (const r of failed) {
      expect(r.error!.code).toBe(Code.Unavailable);
      expect(r.workers).toEqual(['w4']);
      expect(r.tokens).toBeGreaterThan(0);
      expect(r.tokens).toBeLessThan(48);
    }
    for (const r of ok) {
      expect(r.tokens).toBe(48);
      expect(r.workers.length).toBe(1);
    }
    expect(failed.length).toBeGreaterThan(0);
    // Requests queued on the victim (no token yet) were retried elsewhere and, since every failure
    // above had streamed tokens, served in full. A token already on the wire when the worker died
    // still counts as streamed, so the mark is only a lower bound on who had tokens.
    expect(await retries('w4')).toBeGreaterThan(0);
    // The crash is counted as what the callers were told, not as their cancel.
    expect(await metricSum(rt.metrics, 'tokenmesh_router_worker_requests_total', { worker: 'w4', code: 'unavailable' })).toBeGreaterThanOrEqual(failed.length);
    expect(await metricSum(rt.metrics, 'tokenmesh_router_worker_requests_total', { worker: 'w4', code: 'canceled' })).toBe(0);
  }, 90_000);
});
