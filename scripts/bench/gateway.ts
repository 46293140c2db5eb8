/**
 * npm run bench:gateway — what the mesh in front of a worker costs a caller. Tokenizer, one
 * inference worker (models/tinygpt), router and gateway run as processes.
 *   1. added latency: at concurrency 1, requests of 16 tokens rotate between the worker's
 *      Generate called directly and the gateway over REST (SSE), gRPC and Connect (HTTP/1.1 JSON
 *      streaming): TTFT and total p50/p99 per path, and each path's difference to direct;
 *   2. cache hits: one greedy request repeated over REST /generate and gRPC Predict;
 *   3. cancellation: on a mesh whose worker sleeps per step (so a stream lasts seconds), the time
 *      from a client leaving (socket destroyed, gRPC call aborted) to the worker's slot free.
 * Writes docs/bench/gateway.md (for people) and docs/bench/gateway.json.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

import { benchMesh, type Mesh } from './gateway-mesh';
import { Clients, type PathName, PATHS, SETUP, type Timing } from './gateway-paths';
import { type CacheResult, type CancelResult, type PathResult, report } from './gateway-report';
import { ROOT } from './router-setup';
import { quantile, round } from './stats';

const p = (xs: readonly number[], q: number) => round(quantile(xs, q), 2);

async function addedLatency(c: Clients): Promise<PathResult[]> {
  for (let i = 0; i < SETUP.warmup; i++) for (const path of PATHS) await c.stream(path, SETUP.tokens);
  const samples = Object.fromEntries(PATHS.map((x) => [x, [] as Timing[]])) as Record<PathName, Timing[]>;
  // Rotated order: each path sees the same drift of a shared machine.
  for (let i = 0; i < SETUP.requests; i++) {
    for (let k = 0; k < PATHS.length; k++) {
      const path = PATHS[(i + k) % PATHS.length]!;
      samples[path].push(await c.stream(path, SETUP.tokens));
    }
  }
  const direct = samples.direct.map((s) => s.ttftMs);
  return PATHS.map((path) => {
    const ttft = samples[path].map((s) => s.ttftMs);
    const total = samples[path].map((s) => s.totalMs);
    return {
      path,
      requests: ttft.length,
      ttftP50Ms: p(ttft, 0.5),
      ttftP99Ms: p(ttft, 0.99),
      totalP50Ms: p(total, 0.5),
      totalP99Ms: p(total, 0.99),
      addedTtftP50Ms: round(quantile(ttft, 0.5) - quantile(direct, 0.5), 2),
      addedTtftP99Ms: round(quantile(ttft, 0.99) - quantile(direct, 0.99), 2),
    };
  });
}

async function cacheHits(c: Clients): Promise<CacheResult[]> {
  const rows: CacheResult[] = [];
  // REST and gRPC share one entry (the same prompt and sampling): the first REST call fills it.
  for (const path of ['rest', 'grpc'] as const) {
    const first = (await c.deterministic(path, SETUP.tokens)).cache ?? 'absent';
    const samples: Timing[] = [];
    for (let i = 0; i < SETUP.cacheRequests; i++) samples.push(await c.deterministic(path, SETUP.tokens));
    const hits = samples.filter((s) => s.cache === 'hit').map((s) => s.totalMs);
    rows.push({
      path,
      first,
      requests: samples.length,
      hits: hits.length,
      p50Ms: hits.length ? p(hits, 0.5) : null,
      p99Ms: hits.length ? p(hits, 0.99) : null,
    });
  }
  return rows;
}

async function cancellations(c: Clients): Promise<CancelResult[]> {
  for (let i = 0; i < 3; i++) await c.stream('grpc', 4);
  const rows = (['rest', 'grpc'] as const).map((path) => ({ path, ms: [] as number[], skipped: 0 }));
  for (let i = 0; i < SETUP.cancels; i++) {
    for (const row of rows) {
      const ms = await c.cancelToFree(row.path, SETUP.cancelTokens);
      if (ms === undefined) row.skipped++;
      else row.ms.push(ms);
    }
  }
  return rows.map(({ path, ms, skipped }) => ({ path, measured: ms.length, skipped, p50Ms: p(ms, 0.5), p99Ms: p(ms, 0.99), maxMs: round(Math.max(...ms), 2) }));
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  let mesh: Mesh | undefined;
  let clients: Clients | undefined;
  const stop = async () => {
    clients?.close();
    await mesh?.stop();
    clients = undefined;
    mesh = undefined;
  };
  try {
    mesh = await benchMesh();
    clients = new Clients(mesh);
    const paths = await addedLatency(clients);
    const cache = await cacheHits(clients);
    await stop();
    mesh = await benchMesh(SETUP.cancelStepDelayMs);
    clients = new Clients(mesh);
    const cancel = await cancellations(clients);
    await stop();

    const when = new Date().toISOString();
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, onnxruntime-node CPU, 1 intra-op thread`;
    const load = { before: round(loadBefore, 2), after: round(loadavg()[0]!, 2) };
    const runSeconds = round((performance.now() - started) / 1000);
    writeFileSync(
      join(ROOT, 'docs/bench/gateway.json'),
      JSON.stringify({ when, machine, cores: cpus().length, load, runSeconds, setup: SETUP, paths, cache, cancel }, null, 2) + '\n',
    );
    const md = report({ when, machine, cores: cpus().length, load, runSeconds, paths, cache, cancel });
    writeFileSync(join(ROOT, 'docs/bench/gateway.md'), md);
    console.log(md);
  } finally {
    await stop().catch((err: unknown) => console.error('cleanup:', err));
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
