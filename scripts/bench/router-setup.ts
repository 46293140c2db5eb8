/**
 * The router benchmark's fixed parameters: one place, because the runs use them, the report
 * prints them and docs/bench/router.json records them.
 */
import { join, resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(__dirname, '../..');
/** The model both workers serve. */
export const MODEL = join(ROOT, 'models', 'tinygpt');
/** The strategies compared, in the report's order. */
export const STRATEGIES = ['round-robin', 'weighted', 'least-connections', 'p2c', 'consistent-hash'] as const;

/** Every strategy runs once per round: the spread between rounds shows the machine's noise. */
export const ROUNDS = 5;
/** Measured requests per strategy and round. */
export const REQUESTS = 200;
/** Requests in flight at once during a strategy's run. */
export const CONCURRENCY = 16;
/** Unmeasured requests through each fresh router before its run. */
export const WARMUP = 16;
/** Greedy tokens generated per request of a strategy's run. */
export const NEW_TOKENS = 32;
/** Distinct routing keys (session ids) the requests are drawn from. */
export const SESSIONS = 40;
/** Per worker: `blocks` blocks of `requests`, alternating between the workers, `concurrency` at a time. */
export const CALIBRATION = { blocks: 3, requests: 16, concurrency: 8, tokens: 32 };
/** Part 3, the router's added latency: requests at concurrency 1, after `warmup` unmeasured ones. */
export const ADDED = { requests: 200, warmup: 20, tokens: 16 };
/** INFERENCE_WEIGHT of the fast worker. */
export const FAST_WEIGHT = 3;
/** INFERENCE_WEIGHT of the slow worker. */
export const SLOW_WEIGHT = 1;
/** Starts of the slow worker allowed to bring its measured slowdown within 3 ± 0.5. */
export const MAX_CALIBRATIONS = 3;
