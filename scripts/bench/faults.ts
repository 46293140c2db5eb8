/**
 * npm run bench:faults — faults at a larger scale than the fault suite (npm run test:faults), on
 * the production topology (one process per service, tinygpt):
 *   1. overload burst: 4× a worker's capacity of streamed /v1/completions at once, and capacity + 1;
 *   2. Redis outage: /generate latency with Redis up, killed, restarted (the store circuit breaker).
 * Writes docs/bench/faults.md (for people) and docs/bench/faults.json.
 *
 *   npm run bench:faults                 both scenarios (about two minutes)
 *   npm run bench:faults -- --only burst one scenario (burst | redis)
 *   npm run bench:faults -- --report     faults.md again from faults.json
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { type ServiceProcess, startGateway, startRedis, startUpstreams, type Upstreams } from '@tokenmesh/testing';

import { burst, type Outcome, summarize } from './faults-burst';
import { closedLoop } from './faults-loop';
import { moved, scrape } from './faults-metrics';
import { type BurstScenario, type FaultsReport, type RedisPhase, report } from './faults-report';
import { round } from './stats';

const ROOT = resolve(__dirname, '../..');
const MODEL = join(ROOT, 'models', 'tinygpt');
const args = process.argv.slice(2);
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

/** The worker's capacity: a full batch running plus a short queue; beyond it RESOURCE_EXHAUSTED at once. */
export const SETUP = {
  maxBatchSize: 32,
  maxQueueSize: 16,
  maxTokens: 64,
  /** Bursts measured per size (after `warmups` warm-up bursts that open the connections and warm the JIT). */
  repeats: 3,
  /** Unmeasured bursts before each measured series: a gateway that has been serving is JIT-warm (the first bursts of a fresh process are 2-5x slower). */
  warmups: 3,
  /** One request over capacity, timed alone once the worker is full, this many times. */
  singleRepeats: 10,
  redis: { concurrency: 8, seconds: 5, maxTokens: 16 },
} as const;
const CAPACITY = SETUP.maxBatchSize + SETUP.maxQueueSize;

async function stopAll(up: Upstreams, ...more: { stop(ms?: number): Promise<unknown> }[]): Promise<void> {
  await Promise.all([...more, ...up.all].map((p) => p.stop(10_000)));
}

/** The worker's requests running and waiting, from its /metrics. */
async function occupied(up: Upstreams): Promise<number> {
  const text = await (await fetch(`${up.worker.httpUrl}/metrics`)).text();
  return [...text.matchAll(/^tokenmesh_num_requests_(?:running|waiting)\{[^}]*\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
}

/** Waits (bounded) until the worker holds `n` requests: 0 once the last burst's streams ended. */
async function occupancy(up: Upstreams, n: number): Promise<void> {
  for (let i = 0; i < 200 && (await occupied(up)) !== n; i++) await sleep(50);
}
const idle = (up: Upstreams) => occupancy(up, 0);

/**
 * One request over capacity, alone: `capacity` requests fill the worker, and once it holds them
 * all the extra one is sent and timed by itself (not behind the others in every event loop).
 */
async function oneOver(agent: Agent, httpUrl: string, up: Upstreams, tag: string): Promise<{ all: Outcome[]; wallMs: number }> {
  const fill = burst(agent, httpUrl, CAPACITY, SETUP.maxTokens, `${tag}-fill`);
  await occupancy(up, CAPACITY);
  const t0 = performance.now();
  const [extra] = await burst(agent, httpUrl, 1, SETUP.maxTokens, `${tag}-extra`);
  const wallMs = performance.now() - t0;
  return { all: [...(await fill), extra!], wallMs };
}

/** The gateways a burst is measured through: the default, and one without admission at the edge (the before). */
const GATEWAYS = [
  { gateway: 'edge admission (default)', env: {} },
  { gateway: 'no edge admission (GATEWAY_EDGE_ADMISSION=false)', env: { GATEWAY_EDGE_ADMISSION: 'false' } },
] as const;

/** The label of the floor row (a bare HTTP server refusing everything); the report finds it by it. */
export const FLOOR = 'floor: a bare Node HTTP server answering 429 at once';

async function burstScenario(): Promise<BurstScenario[]> {
  const up = await startUpstreams({
    model: MODEL,
    worker: { INFERENCE_MAX_BATCH_SIZE: String(SETUP.maxBatchSize), INFERENCE_MAX_QUEUE_SIZE: String(SETUP.maxQueueSize) },
  });
  const gateways: ServiceProcess[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  try {
    for (const g of GATEWAYS) gateways.push(await startGateway(up, MODEL, { GATEWAY_LOCAL_TOKENIZERS: MODEL, ...g.env }));
    const out: BurstScenario[] = [];
    // The 4× burst through both gateways (the same upstreams, one after the other), then one over capacity through the default.
    const runs = [
      { n: 4 * CAPACITY, g: 0 },
      { n: 4 * CAPACITY, g: 1 },
      { n: CAPACITY + 1, g: 0 },
    ];
    for (const { n, g } of runs) {
      const gateway = gateways[g]!;
      const single = n === CAPACITY + 1;
      // The warm-up bursts open n keep-alive connections (the measured ones reuse them) and warm the JIT.
      for (let w = 0; w < SETUP.warmups; w++) {
        await burst(agent, gateway.httpUrl, n, SETUP.maxTokens, `warm-${n}-${g}-${w}`);
        await idle(up);
      }
      await idle(up);
      const all: Outcome[] = [];
      const walls: number[] = [];
      const services = { gateway, router: up.router, worker: up.worker };
      const before = Object.fromEntries(await Promise.all(Object.entries(services).map(async ([k, p]) => [k, await scrape(p.httpUrl)] as const)));
      for (let r = 0; r < (single ? SETUP.singleRepeats : SETUP.repeats); r++) {
        const t0 = performance.now();
        if (single) {
          const one = await oneOver(agent, gateway.httpUrl, up, `${n}-${g}-${r}`);
          all.push(...one.all);
          walls.push(one.wallMs);
        } else {
          all.push(...(await burst(agent, gateway.httpUrl, n, SETUP.maxTokens, `${n}-${g}-${r}`)));
          walls.push(performance.now() - t0);
        }
        await idle(up);
      }
      const counters = Object.fromEntries(
        await Promise.all(Object.entries(services).map(async ([k, p]) => [k, moved(before[k]!, await scrape(p.httpUrl))] as const)),
      );
      const result = summarize(all, walls.reduce((s, x) => s + x, 0) / walls.length);
      out.push({ concurrent: n, capacity: CAPACITY, gateway: GATEWAYS[g]!.gateway, repeats: single ? SETUP.singleRepeats : SETUP.repeats, result, counters });
      console.log('burst', n, JSON.stringify(out.at(-1)));
    }
    out.push(await floorScenario(agent));
    return out;
  } finally {
    agent.destroy();
    await stopAll(up, ...gateways);
  }
}

/** The same 4× burst against a bare Node HTTP server that refuses everything at once (faults-floor-server.ts): the machine's floor. */
async function floorScenario(agent: Agent): Promise<BurstScenario> {
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, 'faults-floor-server.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const url = line.toString().trim();
    const n = 4 * CAPACITY;
    for (let w = 0; w < SETUP.warmups; w++) await burst(agent, url, n, SETUP.maxTokens, `warm-floor-${w}`);
    const all: Outcome[] = [];
    const walls: number[] = [];
    for (let r = 0; r < SETUP.repeats; r++) {
      const t0 = performance.now();
      all.push(...(await burst(agent, url, n, SETUP.maxTokens, `floor-${r}`)));
      walls.push(performance.now() - t0);
    }
    const result = summarize(all, walls.reduce((s, x) => s + x, 0) / walls.length);
    const scenario = { concurrent: n, capacity: CAPACITY, gateway: FLOOR, repeats: SETUP.repeats, result, counters: {} };
    console.log('burst', n, JSON.stringify(scenario));
    return scenario;
  } finally {
    child.kill();
  }
}

async function redisScenario(): Promise<RedisPhase[]> {
  const redis = await startRedis();
  const up = await startUpstreams({ model: MODEL });
  const gateway = await startGateway(up, MODEL, {
    GATEWAY_LOCAL_TOKENIZERS: MODEL,
    REDIS_URL: redis.url,
    // A limit no client reaches, so every request consults the limiter's store.
    GATEWAY_RATE_LIMIT_RPM: '1000000',
  }).catch(async (err: unknown) => {
    await stopAll(up, redis);
    throw err;
  });
  const { concurrency, seconds, maxTokens } = SETUP.redis;
  const phases: RedisPhase[] = [];
  const phase = async (name: RedisPhase['phase']) => {
    const before = await scrape(gateway.httpUrl);
    const load = await closedLoop(gateway.httpUrl, concurrency, seconds, maxTokens, name);
    phases.push({ phase: name, ...load, counters: moved(before, await scrape(gateway.httpUrl)) });
    console.log('redis', JSON.stringify(phases.at(-1)));
  };
  try {
    await closedLoop(gateway.httpUrl, concurrency, 1, maxTokens, 'warm');
    await phase('up');
    await redis.kill('SIGTERM');
    await phase('down');
    await redis.restart();
    await phase('restarted');
    return phases;
  } finally {
    await stopAll(up, gateway, redis);
  }
}

async function main(): Promise<void> {
  const md = join(ROOT, 'docs/bench/faults.md');
  const json = join(ROOT, 'docs/bench/faults.json');
  if (args.includes('--report')) {
    writeFileSync(md, report(JSON.parse(readFileSync(json, 'utf8')) as FaultsReport));
    return;
  }
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const result: FaultsReport = {
    when: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, onnxruntime-node CPU, 1 intra-op thread`,
    load: { before: round(loadBefore, 2), after: 0 },
    runSeconds: 0,
    setup: SETUP,
    ...(ONLY && ONLY !== 'burst' ? {} : { burst: await burstScenario() }),
    ...(ONLY && ONLY !== 'redis' ? {} : { redis: await redisScenario() }),
  };
  result.load.after = round(loadavg()[0]!, 2);
  result.runSeconds = round((performance.now() - started) / 1000);
  writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(md, report(result));
  console.log(report(result));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
