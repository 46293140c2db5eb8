/**
 * npm run bench:router — the router's balancing strategies in front of an uneven pool: real NATS,
 * two real inference worker processes on models/tinygpt (one slowed about 3× by an artificial
 * per-step delay), the router in this process (so its metrics can be read).
 *   1. calibration: each worker's time per generated token, called directly at concurrency 8;
 *   2. per strategy (a fresh router, the same workers): 200 requests at concurrency 16, 32 new
 *      tokens each, routing keys from 40 sessions: latency and TTFT p50/p99, share of requests on
 *      the slow worker, requests/s, the router's pick time; in 5 rounds, to show the noise;
 *   3. the router's added latency: at concurrency 1, calls alternate between the fast worker
 *      directly and a static router in front of it alone.
 * Writes docs/bench/router.md (for people) and docs/bench/router.json.
 * This file orchestrates; the parts live in router-calibration.ts, router-runs.ts and router-report.ts.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import { type ServerHandle, startNats } from '@tokenmesh/testing';

import { calibrate } from './router-calibration';
import { type StartWorker, startWorker } from './router-process';
import { report } from './router-report';
import { addedLatency, strategyRounds } from './router-runs';
import { CONCURRENCY, FAST_WEIGHT, NEW_TOKENS, REQUESTS, ROOT, ROUNDS, SESSIONS, SLOW_WEIGHT, WARMUP } from './router-setup';
import { round } from './stats';

async function main(): Promise<void> {
  const started = performance.now();
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const nats: ServerHandle = await startNats();
    cleanups.push(() => nats.stop());
    // Every worker started is stopped at the end, even one calibration already stopped (stopping twice is harmless).
    const start: StartWorker = async (id, weight, stepDelayMs) => {
      const worker = await startWorker(nats.url, id, weight, stepDelayMs);
      cleanups.push(worker.stop);
      return worker;
    };

    const { fast, slow, calibration } = await calibrate(start);
    const results = await strategyRounds(nats.url, [process.pid, nats.pid, fast.proc.child.pid!, slow.proc.child.pid!]);
    const added = await addedLatency(fast);

    const when = new Date().toISOString();
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, onnxruntime-node CPU, 1 intra-op thread per worker`;
    const runSeconds = round((performance.now() - started) / 1000);
    const setup = {
      rounds: ROUNDS,
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      warmup: WARMUP,
      newTokens: NEW_TOKENS,
      sessions: SESSIONS,
      weights: { fast: FAST_WEIGHT, slow: SLOW_WEIGHT },
    };
    writeFileSync(
      join(ROOT, 'docs/bench/router.json'),
      JSON.stringify({ when, machine, runSeconds, setup, calibration, strategies: results, addedLatency: added }, null, 2) + '\n',
    );
    const md = report({ when, machine, runSeconds, calibration, results, added });
    writeFileSync(join(ROOT, 'docs/bench/router.md'), md);
    console.log(md);
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => console.error('cleanup:', err));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
