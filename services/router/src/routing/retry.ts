import { Code, ConnectError } from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';

import type { RetryBudget, Worker, WorkerPool } from '../pool';
import type { RouterMetrics } from '../router-metrics';
import type { AttemptResult } from './attempt';
import type { CallRoute } from './pick';

/** Codes that say the worker (or the path to it) failed, not the request: count toward ejection. */
const WORKER_FAILURES = new Set([Code.Unavailable, Code.Unknown, Code.Internal, Code.DataLoss, Code.Canceled, Code.Aborted]);
/** Worth one more try elsewhere while nothing has reached the caller: worker failures and a full queue. */
const RETRIABLE = new Set([...WORKER_FAILURES, Code.ResourceExhausted, Code.NotFound]);

export interface RetryPolicyOptions {
  readonly pool: WorkerPool;
  readonly budget: RetryBudget;
  readonly metrics?: RouterMetrics;
}

/**
 * The retry step, around each attempt: records its outcome (metrics, outlier ejection), then ends
 * the call or sends it on. A failure before the first message is retried once, on another worker
 * or the canary's stable variant, while the budget allows; after messages went out it ends the
 * stream with UNAVAILABLE, since a second worker would generate a different continuation and
 * splicing would corrupt the text. A caller's cancel or deadline is nobody's fault.
 */
export class RetryPolicy {
  constructor(private readonly opts: RetryPolicyOptions) {}

  /** Counts a call's first attempt toward the retry budget. */
  request(): void {
    this.opts.budget.request();
  }

  /**
   * After an attempt on `worker`: false when it succeeded, true when the call should be retried
   * (`route` then names the next variant and workers to avoid); otherwise throws what the caller gets.
   * @param retries retries already made for this call
   */
  shouldRetry(worker: Worker, { sent, failure }: AttemptResult, route: CallRoute, retries: number, signal: AbortSignal): boolean {
    const { pool, metrics, budget } = this.opts;
    if (!failure) {
      this.record(worker, undefined);
      return false;
    }
    // The caller cancelled or its deadline passed: nobody's fault, nothing to retry.
    if (signal.aborted) {
      metrics?.attempts.inc({ worker: worker.id, code: 'canceled' });
      throw failure;
    }
    const workerFailed = WORKER_FAILURES.has(failure.code);
    this.record(worker, failure.code, workerFailed);
    const full = failure.code === Code.ResourceExhausted;
    if (full) pool.markFull(worker);
    if (sent > 0) {
      if (!workerFailed) throw failure;
      throw new ConnectError(`worker ${worker.id} failed after ${sent} streamed messages: ${failure.rawMessage}`, Code.Unavailable);
    }
    if (!RETRIABLE.has(failure.code) || retries > 0) throw failure;
    // The canary failed: its stable variant gets the retry.
    if (route.canFallBack) {
      route.fallBack();
      route.tried.clear();
      route.tried.add(worker.id);
    }
    // A worker known to be full would turn the retry away too: shed now rather than queue a
    // second rejection behind the first (a burst would otherwise double its 429 latency).
    const candidates = pool.eligible(route.target.model).filter((w) => !route.tried.has(w.id) && !(full && pool.isFull(w)));
    // Checked before the budget, so a call with nowhere to go spends none of it.
    if (candidates.length === 0 || !budget.tryRetry()) throw failure;
    if (full) for (const w of pool.eligible(route.target.model)) if (pool.isFull(w)) route.tried.add(w.id);
    metrics?.retries.inc({ worker: worker.id });
    return true;
  }

  /** One attempt's outcome (`code` undefined: it succeeded) for metrics and outlier detection. */
  private record(w: Worker, code: Code | undefined, workerFailed = false): void {
    const { metrics, pool } = this.opts;
    metrics?.attempts.inc({ worker: w.id, code: code === undefined ? 'ok' : codeToString(code) });
    if (code === undefined) pool.outcome(w, true);
    if (!workerFailed) return;
    metrics?.failures.inc({ worker: w.id });
    if (pool.outcome(w, false)) metrics?.ejections.inc({ worker: w.id });
  }
}
