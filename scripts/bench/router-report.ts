/** docs/bench/router.md: the router benchmark's report for people, section by section. */
import type { Calibration } from './router-calibration';
import { pct, share, us } from './router-format';
import { reading } from './router-reading';
import type { Added, StrategyResult } from './router-runs';
import { ADDED, CALIBRATION, CONCURRENCY, FAST_WEIGHT, MAX_CALIBRATIONS, NEW_TOKENS, REQUESTS, ROUNDS, SESSIONS, SLOW_WEIGHT, WARMUP } from './router-setup';

/** Everything one run of the benchmark measured, as the report prints it. */
export interface ReportInput {
  when: string;
  machine: string;
  runSeconds: number;
  calibration: Pick<Calibration, 'fastAlone' | 'attempts' | 'used'>;
  results: StrategyResult[];
  added: Added;
}

/** The report in Markdown. */
export function report({ when, machine, runSeconds, calibration, results, added }: ReportInput): string {
  return [
    '# Router benchmark',
    '',
    `\`npm run bench:router\`, ${when}, ${runSeconds} s.`,
    '',
    `Machine: ${machine}.`,
    'It is shared and noisy, and every process of the run (NATS, both workers, the router and the load generator)',
    'shares its cores: compare figures within one report, not across machines or days.',
    '',
    ...method(calibration),
    ...strategies(results),
    ...addedLatency(added),
    ...reading(results, added),
  ].join('\n');
}

function method(calibration: ReportInput['calibration']): string[] {
  const cal = calibration.used;
  const earlier = calibration.attempts.slice(0, -1);
  return [
    '## Method',
    '',
    `- Real nats-server; two inference worker processes on models/tinygpt, heartbeating every 200 ms: **fast**`,
    `  (INFERENCE_WEIGHT=${FAST_WEIGHT}) and **slow** (INFERENCE_WEIGHT=${SLOW_WEIGHT}, INFERENCE_STEP_DELAY_MS=${cal.stepDelayMs}: an artificial sleep`,
    '  in every batch step). The router runs in the benchmark process and finds both workers by heartbeat.',
    `- Calibration: the fast worker alone took ${calibration.fastAlone.perTokenMs} ms per generated token, called directly ${CALIBRATION.concurrency} at a time`,
    `  with ${CALIBRATION.tokens} tokens each (per request, the mean time per token after the first; the median over`,
    `  ${CALIBRATION.blocks * CALIBRATION.requests} requests, so that a stall of the shared machine does not move it), so the slow worker sleeps 2 × that per step.`,
    ...(earlier.length
      ? [
          `  The slowdown then measured was off 3× by more than 0.5 (${earlier.map((a) => `${a.perTokenRatio}× with ${a.stepDelayMs} ms`).join(', ')}), so the slow worker was`,
          `  restarted with the delay corrected by the difference (at most ${MAX_CALIBRATIONS} starts).`,
        ]
      : []),
    `  Measured the same way with both running (in alternating blocks): fast ${cal.fast.perTokenMs} ms, slow ${cal.slow.perTokenMs} ms per token, a **${cal.perTokenRatio}×**`,
    `  slowdown (${cal.latencyRatio}× on whole requests: ${cal.fast.meanMs} against ${cal.slow.meanMs} ms). The sleep is a fixed time per step`,
    '  whatever the batch size, so under other loads the ratio differs.',
    `- Per strategy: a fresh router (same workers), ${WARMUP} warm-up requests, then ${REQUESTS} requests at concurrency ${CONCURRENCY} (closed`,
    `  loop: each finished request starts the next), ${NEW_TOKENS} new greedy tokens each from a prompt of ~30 bytes, routing keys`,
    `  drawn from ${SESSIONS} session ids (the same sequence every time). This is done in ${ROUNDS} rounds, each running every`,
    '  strategy once, in an order rotated between rounds, so drift of the machine spreads over all strategies.',
    `  The p99 compared is the median of a strategy's ${ROUNDS} round p99s (one disturbed round cannot move it much);`,
    `  the p99 over all its ${ROUNDS * REQUESTS} requests stands beside it.`,
    "- Latency is the client's, from the call to the end of the stream; TTFT, to the first token. Requests/s:",
    `  ${REQUESTS} over the wall time of a round, averaged over rounds. Pick: the router's own`,
    '  `tokenmesh_router_pick_duration_seconds` (call received → upstream call made) over the measured requests.',
    '',
  ];
}

function strategies(results: readonly StrategyResult[]): string[] {
  const summary = results.map(
    (r) =>
      `| ${r.strategy} | ${r.p50Ms} | **${r.p99MedianOfRoundsMs}** | ${r.p99Ms} | ${r.meanMs} | ${r.ttftP50Ms} | ${r.ttftP99Ms} | ${pct(r.slowShare)} | ${r.requestsPerS} | ${r.pick.meanUs} | ${r.errors} |`,
  );
  const roundsTable = Array.from({ length: ROUNDS }, (_, i) => {
    const cells = results.map((r) => {
      const x = r.rounds[i]!;
      return `${x.p99Ms} (#${x.position}, ${share(x.othersCpu)})`;
    });
    return `| ${i + 1} | ${cells.join(' | ')} |`;
  });
  const perStrategy = results.flatMap((r) => [
    `### ${r.strategy}`,
    '',
    '| served by | requests | p50 ms | p99 ms | mean ms | TTFT p50 ms | TTFT p99 ms |',
    '|---|---|---|---|---|---|---|',
    ...(['fast', 'slow'] as const).map((w) => {
      const l = r.byWorker[w]!;
      return `| ${w} worker | ${l.requests} | ${l.p50Ms} | ${l.p99Ms} | ${l.meanMs} | ${l.ttftP50Ms} | ${l.ttftP99Ms} |`;
    }),
    `| all | ${r.requests - r.errors} | ${r.p50Ms} | ${r.p99Ms} | ${r.meanMs} | ${r.ttftP50Ms} | ${r.ttftP99Ms} |`,
    '',
    `${r.requestsPerS} requests/s; the router's pick took ${r.pick.meanUs} µs on average, p99 ≤ ${us(r.pick.p99AtMostUs)} µs, over ${r.pick.calls} calls.`,
    '',
  ]);
  return [
    '## Strategies',
    '',
    `| strategy | p50 ms | p99 ms, median of ${ROUNDS} rounds | p99 ms, all ${ROUNDS * REQUESTS} | mean ms | TTFT p50 ms | TTFT p99 ms | on slow worker | requests/s | pick mean µs | errors |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...summary,
    '',
    'p50, mean, TTFT and the share on the slow worker are over all requests of a strategy; requests/s is the mean of its rounds.',
    ...(results.some((r) => r.rounds.some((x) => x.short > 0))
      ? [
          '',
          `Some streams ended before ${NEW_TOKENS} tokens (EOS): ${results.map((r) => `${r.strategy} ${r.rounds.reduce((n, x) => n + x.short, 0)}`).join(', ')}.`,
        ]
      : []),
    '',
    '### Round by round',
    '',
    "p99 ms of each run, then in brackets its place in the round's order and the share of the machine's CPU that processes",
    "outside this benchmark (other engineers' builds and tests, say) used during the run.",
    '',
    `| round | ${results.map((r) => r.strategy).join(' | ')} |`,
    `|---|${results.map(() => '---').join('|')}|`,
    ...roundsTable,
    '',
    ...perStrategy,
  ];
}

function addedLatency(added: Added): string[] {
  return [
    "## The router's added latency",
    '',
    `At concurrency 1, ${ADDED.requests} requests of ${ADDED.tokens} tokens alternate between the fast worker called directly and a`,
    'router with that worker as its only (static) worker, so both paths see the same worker and the same noise.',
    '',
    '| path | requests | TTFT p50 ms | TTFT p99 ms | total p50 ms | total p99 ms |',
    '|---|---|---|---|---|---|',
    `| direct | ${added.direct.requests} | ${added.direct.ttftP50Ms} | ${added.direct.ttftP99Ms} | ${added.direct.p50Ms} | ${added.direct.p99Ms} |`,
    `| via router | ${added.routed.requests} | ${added.routed.ttftP50Ms} | ${added.routed.ttftP99Ms} | ${added.routed.p50Ms} | ${added.routed.p99Ms} |`,
    `| difference | | ${added.ttftP50DiffMs} | ${added.ttftP99DiffMs} | ${added.totalP50DiffMs} | |`,
    '',
    `The router's own part (\`tokenmesh_router_pick_duration_seconds\`): mean **${added.pick.meanUs} µs**, p99 ≤ ${us(added.pick.p99AtMostUs)} µs`,
    `(histogram bucket), over ${added.pick.calls} calls. The rest of the difference is the extra hop: one more gRPC stream each`,
    'way, decoded and encoded again, on the same two cores. A p99 of 100 requests is their second-slowest: read the medians.',
    '',
  ];
}
