/**
 * The measured runs of the router benchmark: part 2, every strategy in front of the uneven pool
 * over several rounds; part 3, the router's added latency against calling a worker directly.
 */
import { call, closedLoop, ok, type Sample, seeded } from './router-load';
import {
  combine,
  cpuTicks,
  type Latency,
  latency,
  NO_PICKS,
  othersShare,
  type PickHistogram,
  pickHistogram,
  type PickSummary,
  pickSummary,
} from './router-measures';
import { awaitWorkers, startRouter, type Worker } from './router-process';
import { ADDED, CONCURRENCY, NEW_TOKENS, REQUESTS, ROUNDS, SESSIONS, STRATEGIES, WARMUP } from './router-setup';
import { mean, quantile, round } from './stats';

/** One strategy in one round. */
export interface RoundRun {
  round: number;
  /** Position in the round's order, from 1. */
  position: number;
  p99Ms: number;
  p50Ms: number;
  requestsPerS: number;
  /** CPU share of the machine used by processes outside this benchmark during the run (null: unknown). */
  othersCpu: number | null;
  /** Streams that ended (EOS) before NEW_TOKENS tokens; 0 unless the model says so. */
  short: number;
}

/** One strategy over all rounds. */
export interface StrategyResult extends Latency {
  strategy: string;
  rounds: RoundRun[];
  /** Median over rounds of each round's p99: the figure one disturbed round cannot move much. */
  p99MedianOfRoundsMs: number;
  slowShare: number;
  /** Mean over the rounds of requests / wall time of the round. */
  requestsPerS: number;
  pick: PickSummary;
  byWorker: Record<string, Latency>;
}

/** Part 3: direct against through a static router, alternating. */
export interface Added {
  requests: number;
  newTokens: number;
  direct: Latency;
  routed: Latency;
  ttftP50DiffMs: number;
  ttftP99DiffMs: number;
  totalP50DiffMs: number;
  pick: PickSummary;
}

/**
 * Part 2: every strategy once per round, the order rotated each round, each run through a fresh
 * router that discovers the workers on `natsUrl`. `pids` are this run's processes, whose CPU time
 * is told apart from the rest of the machine's.
 */
export async function strategyRounds(natsUrl: string, pids: readonly number[]): Promise<StrategyResult[]> {
  const rand = seeded(20261122);
  const keys = Array.from({ length: REQUESTS }, () => `session-${Math.floor(rand() * SESSIONS)}`);
  const runs = new Map<string, { samples: Sample[][]; seconds: number[]; rounds: RoundRun[]; pick: PickHistogram }>(
    STRATEGIES.map((s) => [s, { samples: [], seconds: [], rounds: [], pick: NO_PICKS }]),
  );
  for (let round_ = 0; round_ < ROUNDS; round_++) {
    const order = STRATEGIES.map((_, i) => STRATEGIES[(i + round_ * 2) % STRATEGIES.length]!);
    for (const [position, strategy] of order.entries()) {
      const router = await startRouter({ NATS_URL: natsUrl, ROUTER_STRATEGY: strategy });
      try {
        await awaitWorkers(router.client, ['fast', 'slow']);
        await closedLoop(WARMUP, CONCURRENCY, (i) => call(router.client, NEW_TOKENS, keys[i]!));
        const before = await pickHistogram(router.rt);
        const cpuBefore = cpuTicks(pids);
        const { samples, seconds } = await closedLoop(REQUESTS, CONCURRENCY, (i) => call(router.client, NEW_TOKENS, keys[i]!));
        const othersCpu = othersShare(cpuBefore, cpuTicks(pids));
        const run = runs.get(strategy)!;
        const l = latency(samples);
        run.rounds.push({
          round: round_ + 1,
          position: position + 1,
          p99Ms: l.p99Ms,
          p50Ms: l.p50Ms,
          requestsPerS: round(REQUESTS / seconds),
          othersCpu,
          short: ok(samples).filter((x) => x.tokens < NEW_TOKENS).length,
        });
        run.pick = combine(run.pick, combine(await pickHistogram(router.rt), before, -1), 1);
        run.samples.push(samples);
        run.seconds.push(seconds);
        const errors = samples.filter((s) => s.error !== undefined);
        if (errors.length) console.error(strategy, `${errors.length} errors, e.g.`, errors[0]!.error);
        console.log(`round ${round_ + 1}`, strategy, JSON.stringify(run.rounds[run.rounds.length - 1]));
      } finally {
        await router.close();
      }
    }
  }
  return STRATEGIES.map((strategy) => {
    const run = runs.get(strategy)!;
    const all = run.samples.flat();
    const good = ok(all);
    return {
      strategy,
      ...latency(all),
      rounds: run.rounds,
      p99MedianOfRoundsMs: quantile(
        run.rounds.map((r) => r.p99Ms),
        0.5,
      ),
      slowShare: round(good.filter((s) => s.worker === 'slow').length / Math.max(1, good.length), 3),
      requestsPerS: round(mean(run.seconds.map((s) => REQUESTS / s))),
      pick: pickSummary(run.pick),
      byWorker: Object.fromEntries(['fast', 'slow'].map((w) => [w, latency(good.filter((s) => s.worker === w))])),
    };
  });
}

/**
 * Part 3: the router's own added latency, from a static router in front of `fast` alone; calls
 * alternate between it and `fast` directly, so both paths see the same worker and the same noise.
 */
export async function addedLatency(fast: Worker): Promise<Added> {
  const staticRouter = await startRouter({ ROUTER_WORKERS: fast.proc.url, ROUTER_STRATEGY: 'p2c' });
  try {
    await awaitWorkers(staticRouter.client, ['fast']);
    const via = (i: number) => (i % 2 === 0 ? fast.direct : staticRouter.client);
    await closedLoop(ADDED.warmup, 1, (i) => call(via(i), ADDED.tokens, `added-${i}`));
    const before = await pickHistogram(staticRouter.rt);
    const { samples } = await closedLoop(ADDED.requests, 1, (i) => call(via(i), ADDED.tokens, `added-${i}`));
    const pick = pickSummary(combine(await pickHistogram(staticRouter.rt), before, -1));
    const direct = latency(samples.filter((_, i) => i % 2 === 0));
    const routed = latency(samples.filter((_, i) => i % 2 === 1));
    const added: Added = {
      requests: ADDED.requests,
      newTokens: ADDED.tokens,
      direct,
      routed,
      ttftP50DiffMs: round(routed.ttftP50Ms - direct.ttftP50Ms, 2),
      ttftP99DiffMs: round(routed.ttftP99Ms - direct.ttftP99Ms, 2),
      totalP50DiffMs: round(routed.p50Ms - direct.p50Ms, 2),
      pick,
    };
    console.log('added latency', JSON.stringify(added));
    return added;
  } finally {
    await staticRouter.close();
  }
}
