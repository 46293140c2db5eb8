/**
 * The "Reading" section of the router benchmark's report: what the figures say, with verdicts
 * against round robin that need a clear majority of rounds, since one round proves little.
 */
import { pct, share } from './router-format';
import type { Added, StrategyResult } from './router-runs';
import { FAST_WEIGHT, REQUESTS, ROUNDS, SESSIONS, SLOW_WEIGHT } from './router-setup';
import { round } from './stats';

/** The section's lines, from `results` of every strategy (round robin, weighted and consistent hash among them) and `added`. */
export function reading(results: readonly StrategyResult[], added: Added): string[] {
  const by = (name: string) => results.find((r) => r.strategy === name)!;
  const rr = by('round-robin');
  /** Rounds a strategy must win (or lose) against round robin for a verdict either way. */
  const clear = Math.ceil(0.8 * ROUNDS);
  const versus = (name: string) => {
    const r = by(name);
    const wins = r.rounds.filter((x, i) => x.p99Ms < rr.rounds[i]!.p99Ms).length;
    const ratioMedian = round(rr.p99MedianOfRoundsMs / r.p99MedianOfRoundsMs, 2);
    const verdict =
      wins >= clear && ratioMedian > 1
        ? `**beats** round robin on p99 (lower in ${wins} of ${ROUNDS} rounds)`
        : wins <= ROUNDS - clear && ratioMedian <= 1
          ? `**does not** beat round robin on p99 (lower in ${wins} of ${ROUNDS} rounds)`
          : `gives **no clear result** against round robin on p99: lower in ${wins} of ${ROUNDS} rounds`;
    return [
      `- **${name}** ${verdict}. Median of the rounds' p99s: ${r.p99MedianOfRoundsMs} ms against round robin's ${rr.p99MedianOfRoundsMs} ms`,
      `  (round robin's **${ratioMedian}×** as long); over all ${ROUNDS * REQUESTS} requests ${r.p99Ms} against ${rr.p99Ms} ms (${round(rr.p99Ms / r.p99Ms, 2)}×). It sent ${pct(r.slowShare)} of its requests to the slow worker`,
      `  (round robin ${pct(rr.slowShare)}); p50 ${r.p50Ms} against ${rr.p50Ms} ms; ${r.requestsPerS} against ${rr.requestsPerS} requests/s.`,
    ].join('\n');
  };
  const disturbed = results
    .flatMap((r) => r.rounds.map((x) => ({ ...x, strategy: r.strategy })))
    .filter((x) => x.othersCpu !== null && x.othersCpu > 0.15)
    .sort((x, y) => x.round - y.round || x.position - y.position);
  const best = [...results].sort((a, b) => a.p99MedianOfRoundsMs - b.p99MedianOfRoundsMs)[0]!;
  // How far each strategy's p99 is from its slow worker's own p99: near 0, the slow worker sets it.
  const slowSets = results.every((r) => r.slowShare > 0.01)
    ? Math.max(...results.map((r) => Math.abs(r.p99Ms - r.byWorker['slow']!.p99Ms) / r.byWorker['slow']!.p99Ms))
    : Infinity;
  const inFlightOnSlow = (r: StrategyResult) => round(r.requestsPerS * r.slowShare * (r.byWorker['slow']!.meanMs / 1000), 1);
  const rrSpread = round(Math.max(...rr.rounds.map((x) => x.p99Ms)) / Math.min(...rr.rounds.map((x) => x.p99Ms)), 2);
  return [
    '## Reading',
    '',
    `- Noise first: round robin's p99 varied ${rrSpread}× between its best and worst round.` +
      (disturbed.length
        ? ` Runs during which other processes took more than 15 % of the CPU: ${disturbed.map((x) => `round ${x.round} ${x.strategy} (${share(x.othersCpu)})`).join(', ')}.`
        : ' No run had other processes taking more than 15 % of the CPU.'),
    versus('least-connections'),
    versus('p2c'),
    `- Where the difference comes from: requests held by the slow worker at once on average (Little's law: its requests/s × its`,
    `  mean latency) were ${results.map((r) => `${r.strategy} ${inFlightOnSlow(r)}`).join(', ')}, and a request there took`,
    `  ${results.map((r) => `${r.byWorker['slow']!.p50Ms}`).join(' / ')} ms at the median, in the same order. Round robin gives the slow worker every other`,
    '  request however many it already holds; least connections and P2C look at what each worker holds and send it fewer.',
    ...(slowSets <= 0.15
      ? [
          `- What sets the p99: every strategy still sent more than 1 % of its requests to the slow worker, and each strategy's p99`,
          `  is within ${pct(slowSets)} of its slow worker's own p99 (all requests / slow worker's: ${results.map((r) => `${r.strategy} ${r.p99Ms} / ${r.byWorker['slow']!.p99Ms} ms`).join(', ')}).`,
          '  So the p99 follows how long a request takes on the slow worker (longer the more it holds, above); how many requests',
          '  pay that price shows in the share on the slow worker, the p50, the mean and requests/s.',
        ]
      : []),
    `- Lowest p99 (median of rounds): **${best.strategy}** (${best.p99MedianOfRoundsMs} ms). Weighted sent ${pct(by('weighted').slowShare)} of requests to the slow worker, its`,
    `  weight share being ${pct(SLOW_WEIGHT / (FAST_WEIGHT + SLOW_WEIGHT))}; consistent hash sent ${pct(by('consistent-hash').slowShare)}: it follows where the ${SESSIONS} sessions hash,`,
    '  bounded by load, not by speed, so its figures depend on how the sessions happen to fall.',
    `- The router adds about ${added.ttftP50DiffMs} ms to the median TTFT of a request, of which its own decision is ${added.pick.meanUs} µs.`,
    '',
  ];
}
