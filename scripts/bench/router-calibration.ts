/**
 * Part 1 of the router benchmark: the slow worker's per-step delay, set so that it is about 3×
 * slower than the fast one, measured by calling both directly.
 */
import { call, type Client, closedLoop, ok, type Sample } from './router-load';
import type { StartWorker, Worker } from './router-process';
import { CALIBRATION, FAST_WEIGHT, MAX_CALIBRATIONS, SLOW_WEIGHT } from './router-setup';
import { mean, quantile, round } from './stats';

/** One worker's speed called directly: per-request mean time per token after the first (median over requests), mean latency. */
export interface Speed {
  perTokenMs: number;
  meanMs: number;
  errors: number;
}

/** One calibration of the slow worker's delay: both workers measured the same way. */
export interface CalibrationAttempt {
  stepDelayMs: number;
  fast: Speed;
  slow: Speed;
  perTokenRatio: number;
  latencyRatio: number;
}

/** The calibration as recorded: its setup, the fast worker alone, every attempt and the one used (the last). */
export type Calibration = typeof CALIBRATION & { fastAlone: Speed; attempts: CalibrationAttempt[]; used: CalibrationAttempt };

/**
 * The speed of each of `clients`, measured in alternating blocks (so drift of the shared machine
 * hits them alike), after `warmup` requests each. Medians, not means: one stall of the machine
 * must not move the calibration.
 */
async function measureSpeeds(clients: readonly Client[], warmup: number): Promise<Speed[]> {
  const { blocks, requests, concurrency, tokens } = CALIBRATION;
  const samples: Sample[][] = clients.map(() => []);
  for (const c of clients) await closedLoop(warmup, concurrency, (i) => call(c, tokens, `calibrate-${i}`));
  for (let b = 0; b < blocks; b++) {
    for (const [j, c] of clients.entries()) samples[j]!.push(...(await closedLoop(requests, concurrency, (i) => call(c, tokens, `calibrate-${i}`))).samples);
  }
  return samples.map((all) => {
    const good = ok(all);
    return {
      perTokenMs: round(
        quantile(
          good.map((s) => s.perTokenMs).filter((v) => !Number.isNaN(v)),
          0.5,
        ),
        2,
      ),
      meanMs: round(mean(good.map((s) => s.totalMs))),
      errors: all.length - good.length,
    };
  });
}

/**
 * Starts the fast worker, measures it alone, then starts the slow worker with twice its time per
 * token as step delay, restarting the slow one with a corrected delay while the slowdown is off.
 */
export async function calibrate(startWorker: StartWorker): Promise<{ fast: Worker; slow: Worker; calibration: Calibration }> {
  // The first measurement of a fresh worker runs cold (JIT, first ORT runs): warm it well.
  const fast = await startWorker('fast', FAST_WEIGHT, 0);
  const [fastAlone] = (await measureSpeeds([fast.direct], 64)) as [Speed];
  let stepDelayMs = Math.max(1, Math.round(2 * fastAlone.perTokenMs));
  console.log('fast worker alone', JSON.stringify(fastAlone), '→ slow worker step delay', stepDelayMs, 'ms');
  // The delay sets up the pool the issue asks for (slow ≈ 3× fast); when the measured ratio is
  // off by more than 0.5, the slow worker is restarted once or twice with the delay scaled to fit.
  const attempts: CalibrationAttempt[] = [];
  let slow: Worker;
  for (;;) {
    slow = await startWorker('slow', SLOW_WEIGHT, stepDelayMs);
    const [f, s] = (await measureSpeeds([fast.direct, slow.direct], CALIBRATION.concurrency)) as [Speed, Speed];
    const a = { stepDelayMs, fast: f, slow: s, perTokenRatio: round(s.perTokenMs / f.perTokenMs, 2), latencyRatio: round(s.meanMs / f.meanMs, 2) };
    attempts.push(a);
    console.log('calibration', JSON.stringify(a));
    if (Math.abs(a.perTokenRatio - 3) <= 0.5 || attempts.length === MAX_CALIBRATIONS) break;
    await slow.stop();
    // The slow worker's time per token is about the fast one's plus the delay (plus timer overshoot).
    stepDelayMs = Math.max(1, Math.round(stepDelayMs + 3 * f.perTokenMs - s.perTokenMs));
  }
  return { fast, slow, calibration: { ...CALIBRATION, fastAlone, attempts, used: attempts[attempts.length - 1]! } };
}
