/** docs/bench/faults.md from the figures of `npm run bench:faults` (faults.json). */
import type { BurstResult } from './faults-burst';
import type { LoopResult } from './faults-loop';
import type { Samples } from './faults-metrics';

/** One burst size: its pooled figures and the counters that moved over its measured bursts. */
export interface BurstScenario {
  readonly concurrent: number;
  readonly capacity: number;
  /** Which gateway the burst went through (with or without admission at the edge). */
  readonly gateway: string;
  readonly repeats: number;
  readonly result: BurstResult;
  /** Service → series → increase over the measured bursts. */
  readonly counters: Record<string, Samples>;
}

export type RedisPhase = LoopResult & { readonly phase: 'up' | 'down' | 'restarted'; readonly counters: Samples };

export interface FaultsReport {
  readonly when: string;
  readonly machine: string;
  readonly load: { before: number; after: number };
  runSeconds: number;
  readonly setup: {
    readonly maxBatchSize: number;
    readonly maxQueueSize: number;
    readonly maxTokens: number;
    readonly repeats: number;
    readonly warmups: number;
    readonly singleRepeats: number;
    readonly redis: { readonly concurrency: number; readonly seconds: number; readonly maxTokens: number };
  };
  readonly burst?: BurstScenario[];
  readonly redis?: RedisPhase[];
}

/** The figures issue 12 measured before this work (the same scenarios, by hand). */
const BEFORE = {
  burst: { refusedP50Ms: 1068, refusedP99Ms: 1163, single: '15 / 24', retries: 40, workerRejections: 184, refused: 144 },
  redisDownPerRequestMs: 600,
};

const fmt = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));

/** The sum of the series of `counters` whose name matches `re`. */
const sum = (counters: Samples | undefined, re: RegExp) =>
  Object.entries(counters ?? {})
    .filter(([k]) => re.test(k))
    .reduce((s, [, v]) => s + v, 0);

function burstSection(r: FaultsReport, runs: BurstScenario[]): string[] {
  const rows = runs.map((b) => {
    const x = b.result;
    const retries = sum(b.counters['router'], /retries_total/);
    const workerRefused = sum(b.counters['worker'], /resource_exhausted/);
    const shed = sum(b.counters['gateway'], /gateway_shed_total/);
    return (
      `| ${b.concurrent} (${fmt(b.concurrent / b.capacity, 2)}× ${b.capacity}) | ${b.gateway} | ${b.repeats} | ${x.ok} | ${x.refused} | ${x.other} | ` +
      `${fmt(x.refusedP50Ms)} | ${fmt(x.refusedP99Ms)} | ${fmt(x.refusedFromWriteP99Ms)} | ${fmt(x.refusedMaxMs)} | ${fmt(x.okTtftP50Ms)} | ${fmt(x.okTtftP99Ms)} | ` +
      `${fmt(x.wallMs, 0)} | ${shed} | ${retries} | ${workerRefused} |`
    );
  });
  const counters = runs.flatMap((b) =>
    Object.entries(b.counters).flatMap(([service, c]) => Object.entries(c).map(([k, v]) => `| ${b.concurrent}, ${b.gateway} | ${service} | \`${k}\` | ${v} |`)),
  );
  const [big, plain] = runs;
  const floor = runs.find((b) => b.gateway.startsWith('floor'));
  const ok = big!.result.refusedP99Ms < 50;
  return [
    '## 1. Overload burst',
    '',
    `One worker with \`INFERENCE_MAX_BATCH_SIZE=${r.setup.maxBatchSize}\` and \`INFERENCE_MAX_QUEUE_SIZE=${r.setup.maxQueueSize}\`: ${r.setup.maxBatchSize + r.setup.maxQueueSize} requests`,
    'run or wait, the next is refused with RESOURCE_EXHAUSTED at once; the worker reports that capacity (ListServedModels), the router ' +
      'sums it over its workers and the gateway refuses what is past it before any work (edge admission). Streamed `/v1/completions`, ' +
      `max_tokens ${r.setup.maxTokens}, temperature 0.8. The 4× burst: all sent at the same instant, ${r.setup.repeats} bursts, pooled, through two ` +
      'gateways in front of the same upstreams: the default one, and one with `GATEWAY_EDGE_ADMISSION=false` (the worker refuses, as before). ' +
      `Capacity + 1: ${r.setup.maxBatchSize + r.setup.maxQueueSize} requests fill the worker, and once its metrics show them all running or waiting ` +
      `one more is sent and timed alone (its wall time is that request's), ${r.setup.singleRepeats} times. "from write" times a 429 from the moment ` +
      'its request was on the socket: without the load client queueing its own 192 writes.',
    '',
    '| concurrent requests | gateway | bursts | 200 | 429 | other | 429 p50 ms | 429 p99 ms | 429 p99 from write ms | 429 max ms | 200 TTFT p50 ms | 200 TTFT p99 ms | wall ms per burst | gateway sheds | router retries | worker RESOURCE_EXHAUSTED |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Target (issue 12): 429 p99 < 50 ms at 4× overload. Measured **${fmt(big!.result.refusedP99Ms)} ms: ${ok ? 'met' : 'not met'}**` +
      (plain ? ` (${fmt(plain.result.refusedP99Ms)} ms in the same run without edge admission` : '') +
      (floor
        ? `; the machine's floor, a bare Node HTTP server refusing all ${floor.concurrent} at once: ${fmt(floor.result.refusedP99Ms)} ms)`
        : plain
          ? ')'
          : '') +
      `. Before this work: p50 ${BEFORE.burst.refusedP50Ms} ms, p99 ${BEFORE.burst.refusedP99Ms} ms (${BEFORE.burst.single} ms p50 / p99 for one request over capacity), ` +
      `${BEFORE.burst.retries} router retries and ${BEFORE.burst.workerRejections} worker rejections for ${BEFORE.burst.refused} client 429s.`,
    ...(runs.some((b) => b.result.otherSamples.length) ? ['', `Other outcomes: ${runs.flatMap((b) => b.result.otherSamples).join('; ')}.`] : []),
    '',
    'Every counter that moved over the measured bursts (edge sheds, retries, refusals, RPC outcomes `resource_exhausted`):',
    '',
    '| burst | service | series | increase |',
    '|---|---|---|---|',
    ...counters,
    '',
  ];
}

function redisSection(r: FaultsReport, phases: RedisPhase[]): string[] {
  const s = r.setup.redis;
  return [
    '## 2. Redis outage',
    '',
    `Gateway with \`REDIS_URL\` (rate limiter at a limit nobody reaches, response cache on), ${s.concurrency} closed-loop clients of ` +
      `\`/generate\` (max_tokens ${s.maxTokens}, temperature 0, every prompt new: each request reads the cache, takes its lock and ` +
      `stores the answer), ${s.seconds} s per phase: Redis up, Redis stopped (SIGTERM), Redis restarted (empty).`,
    '',
    '| phase | requests | failed | requests/s | latency p50 ms | latency p99 ms | gateway counters that moved |',
    '|---|---|---|---|---|---|---|',
    ...phases.map(
      (p) =>
        `| ${p.phase} | ${p.requests} | ${p.failed} | ${fmt(p.requestsPerS)} | ${fmt(p.latencyP50Ms)} | ${fmt(p.latencyP99Ms)} | ` +
        `${
          Object.entries(p.counters)
            .map(([k, v]) => `\`${k}\` ${v}`)
            .join('; ') || '–'
        } |`,
    ),
    '',
    `Before this work (issue 12): about ${BEFORE.redisDownPerRequestMs} ms more per request while Redis was down ` +
      '(a 50 ms limiter timeout and 250 ms per cache call), a third of the throughput.',
    ...(phases.some((p) => p.failures.length) ? ['', `Failures: ${phases.flatMap((p) => p.failures.map((f) => `${p.phase}: ${f}`)).join('; ')}.`] : []),
    '',
  ];
}

function reading(r: FaultsReport): string[] {
  const out = ['## Reading', ''];
  const [big, plain, single, floor] = r.burst ?? [];
  if (big) {
    const x = big.result;
    const shed = sum(big.counters['gateway'], /gateway_shed_total/);
    const workerRefused = sum(big.counters['worker'], /resource_exhausted/);
    out.push(
      `- **${x.refusedP99Ms < 50 ? 'Refusals are answered at once' : 'Refusals still wait, less'}.** In a burst of ${big.concurrent} against ${big.capacity} slots, ${x.refused} of ${x.requests} requests were ` +
        `refused with p50 ${fmt(x.refusedP50Ms)} ms, p99 ${fmt(x.refusedP99Ms)} ms (${fmt(x.refusedFromWriteP99Ms)} ms from the write); ${shed} of them by the gateway before any work, ` +
        `${workerRefused} by the worker. ` +
        (plain
          ? `Through the gateway without edge admission, in the same run: p50 ${fmt(plain.result.refusedP50Ms)} ms, p99 ${fmt(plain.result.refusedP99Ms)} ms, every refusal the worker's, ` +
            'each one having paid the gateway\u2019s prompt encoding and upstream call, the router\u2019s pick and the worker\u2019s admission, in arrival order on three event loops. '
          : '') +
        (floor
          ? `The floor, a bare Node HTTP server in its own process reading each body and answering 429 (no tokenmesh code), answers the same burst with p50 ${fmt(floor.result.refusedP50Ms)} ms, ` +
            `p99 ${fmt(floor.result.refusedP99Ms)} ms: Node\u2019s HTTP parsing and writes, the loopback and the load client alone. `
          : '') +
        'With edge admission a refusal costs its own HTTP parsing and the 429 (inside the gateway\u2019s handler, under 1 ms for most: `tokenmesh_gateway_http_request_duration_seconds`); ' +
        'the wait is for the gateway\u2019s event loop to reach the request: one socket after the other, each parsed, traced (the HTTP instrumentation\u2019s span) and answered in turn. ' +
        'Admitted requests start one per event-loop turn, so the sockets are read ' +
        'between two starts and the refusals are not queued behind the admitted requests\u2019 encoding and upstream calls. What is left is the ' +
        'machine: the gateway shares 2 cores with the router, the worker (prefilling the admitted 32 at once), the tokenizer and the load client, ' +
        'and the admitted streams\u2019 tokens flow through the same gateway loop while the burst is read. The worker still refuses what its ' +
        'cost-based bounds (queued KV tokens, expected wait) turn away below the count; each gateway replica counts only its own requests.',
    );
    out.push(
      `- **The admitted requests.** ${x.ok} answered 200; their first token came after ${fmt(x.okTtftP50Ms)} ms p50, ${fmt(x.okTtftP99Ms)} ms p99: ` +
        `the first ${r.setup.maxBatchSize} are prefilled as one batch, the ${r.setup.maxQueueSize} queued wait for a running request to finish ` +
        `(${r.setup.maxTokens} tokens), which is their TTFT p99. A burst ends in ${fmt(x.wallMs, 0)} ms` +
        (plain ? ` (${fmt(plain.result.wallMs, 0)} ms without edge admission).` : '.'),
    );
  }
  if (single) {
    out.push(
      `- **One over capacity.** Sent alone once the worker holds ${big?.capacity ?? 'all'} requests, ${single.result.refused} of ${single.repeats} extra requests were refused ` +
        '(sampled requests may end early at end-of-text, making room before the extra one is sent), ' +
        `${fmt(single.result.refusedP50Ms)} ms p50, ${fmt(single.result.refusedP99Ms)} ms p99 (before: ${BEFORE.burst.single} ms).`,
    );
  }
  const phases = r.redis;
  if (phases?.length === 3) {
    const [up, down, again] = phases as [RedisPhase, RedisPhase, RedisPhase];
    out.push(
      `- **Redis down.** Latency p50 ${fmt(up.latencyP50Ms)} → ${fmt(down.latencyP50Ms)} ms, p99 ${fmt(up.latencyP99Ms)} → ${fmt(down.latencyP99Ms)} ms, ` +
        `${fmt(up.requestsPerS)} → ${fmt(down.requestsPerS)} requests/s, ${down.failed} failed. After a few failed store calls each breaker opens and ` +
        'requests skip the store (rate limits fail open, the cache generates uncached) instead of waiting for its timeout; only the ' +
        `first requests and each probe pay a timeout. Restarted: ${fmt(again.latencyP50Ms)} / ${fmt(again.latencyP99Ms)} ms, ${again.failed} failed.`,
    );
  }
  out.push('');
  return out;
}

/** The report in Markdown. */
export function report(r: FaultsReport): string {
  return [
    '# Fault benchmark',
    '',
    `\`npm run bench:faults\`, ${r.when}, ${r.runSeconds} s. Machine: ${r.machine}. Load average (1 min) ${r.load.before} before the run, ` +
      `${r.load.after} after it. The machine is shared and the mesh and the client share its cores: compare figures within one report.`,
    '',
    '## Method',
    '',
    '- The production topology: tokenizer, one inference worker (tinygpt), router (static worker list) and gateway, each its own',
    '  process (libs/testing `startUpstreams` + `startGateway`), the gateway with the model tokenizer in process.',
    `- The client is the benchmark process (Node http, keep-alive). Before each burst series ${r.setup.warmups} warm-up bursts of the same size open`,
    '  its connections and warm the JIT (a gateway that has been serving is warm; a fresh process answers its first bursts 2\u20135\u00d7 slower),',
    '  so the measured bursts time the mesh, not TCP handshakes or compilation; the next burst starts once the worker is idle.',
    '- Latency: from writing the request to the end of the response (a 429 is complete when its error body ends). TTFT: until the',
    '  first text event of a 200 stream. Counters: the increase of each service\u2019s /metrics series over the measured bursts or phase.',
    '',
    ...(r.burst ? burstSection(r, r.burst) : []),
    ...(r.redis ? redisSection(r, r.redis) : []),
    ...reading(r),
  ].join('\n');
}
