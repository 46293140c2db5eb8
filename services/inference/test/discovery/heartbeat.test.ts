import { resolve } from 'node:path';

import { fromBinary } from '@bufbuild/protobuf';
import { type Bus, MemoryBus, SUBJECTS } from '@tokenmesh/bus';
import { createLogger } from '@tokenmesh/logging';
import { loadReference } from '@tokenmesh/model';
import { FinishReason, GenerationService, type WorkerHeartbeat, WorkerHeartbeatSchema } from '@tokenmesh/proto';
import { createRuntime, createServiceClient, type RunningService, type ServiceClient, ServingStatus } from '@tokenmesh/server';

import { loadConfig } from '../../src/config';
import { startHeartbeat, type WorkerSnapshot } from '../../src/discovery/heartbeat';
import { start } from '../../src/start';

const MODEL = resolve(__dirname, '../../../../models/tinygpt');
const PERIOD_MS = 100;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface Beat {
  readonly at: number;
  readonly hb: WorkerHeartbeat;
}

/** Every heartbeat of `workerId` as subscribers receive it, decoded. */
async function heard(bus: Bus, workerId: string): Promise<Beat[]> {
  const beats: Beat[] = [];
  await bus.subscribe(SUBJECTS.heartbeat(workerId), (m) => void beats.push({ at: performance.now(), hb: fromBinary(WorkerHeartbeatSchema, m.data) }));
  return beats;
}

/** A bus whose publish can be made to fail, recording each attempt as it is made. */
function recordingBus(inner: Bus, onPublish: (hb: WorkerHeartbeat) => void = () => undefined) {
  const state = { down: false, attempts: 0 };
  const bus: Bus = {
    publish(subject, data, headers) {
      state.attempts++;
      if (state.down) throw new Error('nats is down');
      onPublish(fromBinary(WorkerHeartbeatSchema, data));
      inner.publish(subject, data, headers);
    },
    subscribe: (pattern, handler) => inner.subscribe(pattern, handler),
    ensureStream: (config) => inner.ensureStream(config),
    publishDurable: (subject, data, opts) => inner.publishDurable(subject, data, opts),
    consume: (stream, durable, handler, opts) => inner.consume(stream, durable, handler, opts),
    replay: (stream, handler, opts) => inner.replay(stream, handler, opts),
    consumerLag: (stream, durable) => inner.consumerLag(stream, durable),
    countMessages: (stream, pattern) => inner.countMessages(stream, pattern),
    objectBucket: (name, opts) => inner.objectBucket(name, opts),
    close: () => inner.close(),
  };
  return { bus, state };
}

function logLines() {
  const lines: { level: string; msg: string }[] = [];
  const logger = createLogger({ service: 'test', level: 'debug', sink: (l) => void lines.push(JSON.parse(l) as { level: string; msg: string }) });
  return { logger, lines };
}

describe('startHeartbeat', () => {
  const snapshot = (): WorkerSnapshot => ({ models: ['tinygpt@1'], running: 2, waiting: 1, kvBudgetUsed: 0.25 });

  it('beats at once and every period; drain() announces at once and sticks; stop() ends it', async () => {
    const memory = new MemoryBus();
    const beats = await heard(memory, 'w-unit');
    const published: WorkerHeartbeat[] = [];
    const { bus } = recordingBus(memory, (hb) => published.push(hb));
    const hb = startHeartbeat({
      bus,
      workerId: 'w-unit',
      address: 'http://10.0.0.7:50054',
      weight: 5,
      periodMs: PERIOD_MS,
      snapshot,
      logger: logLines().logger,
    });
    try {
      expect(published).toHaveLength(1);
      await until(() => beats.length >= 1, 'the first beat');
      expect(beats[0]!.hb).toMatchObject({
        workerId: 'w-unit',
        address: 'http://10.0.0.7:50054',
        models: ['tinygpt@1'],
        runningRequests: 2,
        waitingRequests: 1,
        kvBudgetUsed: 0.25,
        weight: 5,
        draining: false,
      });
      expect(Math.abs(Number(beats[0]!.hb.sentAtUnixMs) - Date.now())).toBeLessThan(5000);

      const from = published.length;
      await sleep(2.5 * PERIOD_MS);
      expect(published.length - from).toBeGreaterThanOrEqual(2);
      expect(published.length - from).toBeLessThanOrEqual(4);

      const beforeDrain = published.length;
      hb.drain();
      expect(published.slice(beforeDrain)).toEqual([expect.objectContaining({ draining: true })]);
      await until(() => published.length >= beforeDrain + 2, 'a beat after drain');
      expect(published.slice(beforeDrain).every((b) => b.draining)).toBe(true);
      await until(() => beats.at(-1)!.hb.draining, 'the draining beat to arrive');

      hb.stop();
      const stoppedAt = published.length;
      await sleep(2.5 * PERIOD_MS);
      expect(published.length).toBe(stoppedAt);
    } finally {
      hb.stop();
      await memory.close();
    }
  });

  it('a failing bus never throws and is logged once per streak of failures', async () => {
    const memory = new MemoryBus();
    const { bus, state } = recordingBus(memory);
    const { logger, lines } = logLines();
    const failures = () => lines.filter((l) => l.level === 'warn' && l.msg.startsWith('heartbeat publish failed')).length;
    state.down = true;
    const hb = startHeartbeat({ bus, workerId: 'w-down', address: 'http://127.0.0.1:1', weight: 1, periodMs: PERIOD_MS, snapshot, logger });
    try {
      await until(() => state.attempts >= 3, 'three failed beats');
      expect(failures()).toBe(1);
      state.down = false;
      await until(() => lines.some((l) => l.msg === 'heartbeat publish recovered'), 'recovery');
      state.down = true;
      const now = state.attempts;
      await until(() => state.attempts >= now + 2, 'two more failed beats');
      expect(failures()).toBe(2);
      expect(() => hb.drain()).not.toThrow();
    } finally {
      hb.stop();
      await memory.close();
    }
  });
});

describe('a started worker on a shared bus', () => {
  const WORKER = 'hb-w1';
  const memory = new MemoryBus();
  let beats: Beat[];
  let service: RunningService | undefined;
  let gen: ServiceClient<typeof GenerationService>;
  let promptIds: number[];
  /** Each publish, with what the server was doing at that instant. */
  const published: { hb: WorkerHeartbeat; acceptingStopped: boolean; tokensSoFar: number }[] = [];
  let tokensSoFar = 0;

  beforeAll(async () => {
    beats = await heard(memory, WORKER);
    const { bus } = recordingBus(memory, (hb) => published.push({ hb, acceptingStopped: service?.server.health.shuttingDown ?? false, tokensSoFar }));
    const config = loadConfig({
      INFERENCE_MODELS: MODEL,
      INFERENCE_HOST: '127.0.0.1',
      INFERENCE_PORT: '0',
      INFERENCE_HTTP_PORT: '0',
      INFERENCE_WORKER_ID: WORKER,
      INFERENCE_WEIGHT: '3',
      INFERENCE_HEARTBEAT_MS: String(PERIOD_MS),
      // Streams last long enough for beats to see them and for close() to begin mid-stream.
      INFERENCE_STEP_DELAY_MS: '5',
    });
    service = await start(config, { ...createRuntime('inference'), logger: createLogger({ service: 'inference', level: 'error' }) }, { bus });
    gen = createServiceClient(GenerationService, service.server.url);
    promptIds = (await loadReference(MODEL)).cases[0]!.input_ids[0]!;
  });
  afterAll(async () => {
    gen?.close();
    await service?.close();
    await memory.close();
  });

  /** Streams `maxTokens` greedy tokens; `first` resolves at the first token, `done` at the end. */
  function generate(maxTokens: number) {
    let onFirst!: () => void;
    const first = new Promise<void>((r) => (onFirst = r));
    const done = (async () => {
      const ids: number[] = [];
      let reason: FinishReason | undefined;
      tokensSoFar = 0;
      for await (const m of gen.client.generate({ model: 'tinygpt', promptTokenIds: promptIds, sampling: { maxTokens, temperature: 0 } })) {
        ids.push(...m.tokenIds);
        tokensSoFar = ids.length;
        if (ids.length > 0) onFirst();
        if (m.finishReason) reason = m.finishReason;
      }
      return { ids, reason };
    })();
    return { first, done };
  }

  it('announces its address, models and weight once SERVING, every period, not draining', async () => {
    expect(service!.server.health.get('')).toBe(ServingStatus.SERVING);
    await until(() => beats.length >= 1, 'the first beat');
    for (const { hb } of beats) {
      expect(hb).toMatchObject({
        workerId: WORKER,
        address: service!.server.url,
        models: ['tinygpt@1'],
        weight: 3,
        draining: false,
        runningRequests: 0,
        waitingRequests: 0,
      });
    }
    const from = published.length;
    await sleep(2.5 * PERIOD_MS);
    expect(published.length - from).toBeGreaterThanOrEqual(2);
    expect(published.length - from).toBeLessThanOrEqual(4);
  });

  it('reports a running generation and its KV reservation', async () => {
    const { first, done } = generate(64);
    await first;
    const since = performance.now();
    await until(() => beats.some((b) => b.at > since && b.hb.runningRequests >= 1), 'a beat with a running request');
    const busy = beats.find((b) => b.at > since && b.hb.runningRequests >= 1)!.hb;
    expect(busy.kvBudgetUsed).toBeGreaterThan(0);
    expect(busy.kvBudgetUsed).toBeLessThanOrEqual(1);
    expect((await done).ids).toHaveLength(64);
  });

  it('close() announces draining while still accepting, then lets an open stream finish', async () => {
    const { first, done } = generate(64);
    await first;
    const closing = service!.close();
    const { ids, reason } = await done;
    await closing;

    expect(ids).toHaveLength(64);
    expect(reason).toBe(FinishReason.LENGTH);
    const announce = published.findIndex((p) => p.hb.draining);
    expect(announce).toBeGreaterThanOrEqual(0);
    expect(published[announce]).toMatchObject({ acceptingStopped: false, hb: { runningRequests: 1 } });
    expect(published[announce]!.tokensSoFar).toBeLessThan(64);
    expect(published.slice(announce).every((p) => p.hb.draining)).toBe(true);
    expect(beats.some((b) => b.hb.draining)).toBe(true);

    const after = published.length;
    await sleep(2.5 * PERIOD_MS);
    expect(published.length).toBe(after);
  });
});
