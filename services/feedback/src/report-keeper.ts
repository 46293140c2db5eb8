import type { Bus } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import type { Store } from '@tokenmesh/store';

import type { FeedbackAggregates } from './aggregates';
import { rebuildReport, type RebuildResult } from './report-rebuild';

export interface ReportKeeperOptions {
  readonly bus: Bus;
  readonly store: Store;
  readonly aggregates: FeedbackAggregates;
  readonly logger: Logger;
  readonly lockMs: number;
  /** How often to look for the report pointer while nothing else reads it. */
  readonly checkMs: number;
}

/**
 * Rebuilds the report from the events stream whenever the store has lost it: at start (a store
 * that never had one, or lost it while the service was down), as soon as an event, submission or
 * report read finds the pointer missing (the store came back empty), and on a periodic check for
 * an idle service. One rebuild at a time in this process; the store lock keeps it one across
 * replicas. A failed rebuild is logged and retried by the next check.
 */
export class ReportKeeper {
  private running: Promise<RebuildResult | undefined> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  /** After a failure, lost-report signals wait for this (ms since epoch): no retry storm per request. */
  private retryAt = 0;

  constructor(private readonly o: ReportKeeperOptions) {}

  /** Starts watching; resolves when the check at start (and its rebuild, if any) is done. */
  start(): Promise<void> {
    this.o.aggregates.generations.onLost(() => {
      if (Date.now() >= this.retryAt) void this.rebuild('store lost the report');
    });
    this.timer = setInterval(() => void this.check('store lost the report'), this.o.checkMs);
    this.timer.unref();
    return this.check('start');
  }

  /** Rebuilds if the store has no report pointer; a store that cannot answer is tried at the next check. */
  async check(reason: string): Promise<void> {
    if (this.running || this.stopped) return;
    const pointer = await this.o.aggregates.generations.peek().catch(() => undefined);
    if (pointer === null) await this.rebuild(reason);
  }

  /** Rebuilds now (or joins the rebuild in progress); undefined when skipped or failed. */
  rebuild(reason: string): Promise<RebuildResult | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    this.running ??= (async () => {
      // At start a missing report is also a store that never had one (a fresh deployment).
      const level = reason === 'start' ? 'info' : 'warn';
      this.o.logger[level]('feedback report missing from the store: rebuilding it from the events stream', { reason });
      try {
        const result = await rebuildReport({ ...this.o, reason, signal: this.abort.signal });
        if (!result) this.retryAt = Date.now() + this.o.checkMs; // another rebuild holds the lock
        return result;
      } catch (err) {
        if (this.stopped) this.o.logger.info('feedback report rebuild abandoned: the service is stopping', { reason });
        else this.o.logger.error('feedback report rebuild failed; the next check retries it', { err, reason, retry_in_ms: this.o.checkMs });
        this.retryAt = Date.now() + this.o.checkMs;
        return undefined;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Stops the checks and abandons a rebuild in progress (the old report stays; the next start retries). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.abort.abort(new Error('the feedback service is stopping'));
    await this.running;
  }
}
