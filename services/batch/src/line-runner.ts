import { createHash, randomBytes } from 'node:crypto';

import { SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { BATCH_SUBJECTS, decodeMessage, encodeMessage, type LineJob, lineMsgId, type LineOutcome, type LineResult, type OutputLine } from '@tokenmesh/batch';
import type { Bus, DurableMessage } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';
import { extractContext } from '@tokenmesh/telemetry';

import type { BatchCache } from './batch-cache';
import type { BatchMetrics } from './batch-metrics';
import type { GatewayCall, LineAnswer } from './gateway-call';

export interface RunnerDeps {
  readonly bus: Bus;
  readonly batches: BatchCache;
  readonly call: GatewayCall;
  readonly maxAttempts: number;
  readonly requestTimeoutMs: number;
  /** The lines' ack wait: a running line says it is still working three times within it, so no other runner takes it. */
  readonly ackWaitMs: number;
  /** Told after each result is stored: the batch may be done. */
  readonly lineDone: (batchId: string) => Promise<void>;
  readonly metrics: BatchMetrics;
  readonly tracer: Tracer;
  readonly logger: Logger;
}

/** How long a line whose batch could not be finalized waits before it runs (and finalizes) again. */
const FINALIZE_RETRY_MS = 1000;

/** Answers worth another try: the gateway or a worker was busy or away. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * Runs one line: skipped when the batch is being cancelled, expired once its completion window
 * has ended, else sent to the gateway. Its result
 * is stored once (msgId: a line run again after its runner was killed stores nothing new), then
 * the message is acked: a runner killed at any point leaves the line to be run again, never lost. Retryable failures go back to the queue with a delay
 * until `maxAttempts`, then to the error file.
 */
export async function runLine(deps: RunnerDeps, msg: DurableMessage): Promise<void> {
  const job = decodeMessage<LineJob>(msg.data);
  const store = (outcome: LineOutcome, output?: OutputLine) => storeResult(deps, job, { line: job.line, outcome, ...(output && { output }) });
  const record = await deps.batches.record(job.batchId);
  if (!record) {
    deps.logger.warn('batch line without a batch record, dropped', { batch: job.batchId, customId: job.customId });
    return msg.ack();
  }
  if (await deps.batches.cancelled(job.batchId)) {
    await store('cancelled');
    return settle(deps, job, msg);
  }
  // A line still queued when the window closes is not run (OpenAI's batch_expired); one already running finishes.
  if (Date.now() >= record.expiresAt * 1000) {
    await store('expired', expiredLine(job));
    return settle(deps, job, msg);
  }
  // Its own trace (the gateway's spans of its request join it), linked to the batch's creation.
  const created = trace.getSpanContext(extractContext(msg.headers));
  const outcome = await deps.tracer.startActiveSpan(
    'batch line',
    {
      root: true,
      ...(created && { links: [{ context: created }] }),
      attributes: { 'tokenmesh.batch.id': job.batchId, 'tokenmesh.batch.custom_id': job.customId, 'tokenmesh.batch.attempt': msg.deliveryCount },
    },
    async (span) => {
      deps.metrics.started(job.batchId);
      const stopWorking = keepWorking(msg, deps.ackWaitMs);
      try {
        const signal = AbortSignal.timeout(deps.requestTimeoutMs);
        const answer = await deps.call(job.url, job.body, record.owner, lineIdempotencyKey(job), signal).catch((err: unknown) => err as Error);
        if (answer instanceof Error || retryable(answer.status)) {
          const why = answer instanceof Error ? `no answer from the gateway: ${answer.message}` : `HTTP ${answer.status}`;
          span.setStatus({ code: SpanStatusCode.ERROR, message: why });
          if (msg.deliveryCount < deps.maxAttempts) {
            deps.metrics.retried();
            msg.nak(retryDelayMs(msg.deliveryCount, answer instanceof Error ? undefined : answer.retryAfterS));
            return undefined;
          }
          return { outcome: 'failed' as const, output: failedLine(job, answer, `gave up after ${msg.deliveryCount} attempts: ${why}`) };
        }
        span.setAttribute('http.response.status_code', answer.status);
        return { outcome: answer.status < 300 ? ('ok' as const) : ('failed' as const), output: answered(job, answer) };
      } finally {
        stopWorking();
        deps.metrics.stopped(job.batchId);
        span.end();
      }
    },
  );
  if (!outcome) return;
  await store(outcome.outcome, outcome.output);
  await settle(deps, job, msg);
}

/**
 * After the line's result is stored: the batch may be done, then the ack. Acked only once the
 * finalizer has run, so a runner killed (or a store failing) while it writes the files leaves the
 * line to run again and finalize, instead of a batch stuck in `finalizing` with no line left.
 */
async function settle(deps: RunnerDeps, job: LineJob, msg: DurableMessage): Promise<void> {
  const stopWorking = keepWorking(msg, deps.ackWaitMs);
  try {
    await deps.lineDone(job.batchId);
    msg.ack();
  } catch (err) {
    deps.logger.warn('batch line stored, finalizing failed; it runs again', { batch: job.batchId, customId: job.customId, error: (err as Error).message });
    msg.nak(FINALIZE_RETRY_MS);
  } finally {
    stopWorking();
  }
}

/** Tells JetStream the line is still being worked on, three times per ack wait, until stopped: only a killed runner's lines move to another. */
function keepWorking(msg: DurableMessage, ackWaitMs: number): () => void {
  const timer = setInterval(() => msg.working(), ackWaitMs / 3);
  return () => clearInterval(timer);
}

async function storeResult(deps: RunnerDeps, job: LineJob, result: LineResult): Promise<void> {
  await deps.bus.publishDurable(BATCH_SUBJECTS.result(job.batchId, result.outcome), encodeMessage(result), {
    msgId: lineMsgId(job.batchId, job.customId),
  });
  deps.metrics.finished(job.batchId, result.outcome);
}

/** Visible ASCII whatever the custom_id holds (the header's alphabet), one per line of a batch. */
const lineIdempotencyKey = (job: LineJob) => `${job.batchId}-${createHash('sha256').update(job.customId).digest('hex').slice(0, 32)}`;

const requestLineId = () => `batch_req_${randomBytes(12).toString('hex')}`;

function answered(job: LineJob, a: LineAnswer): OutputLine {
  return { id: requestLineId(), custom_id: job.customId, response: { status_code: a.status, request_id: a.requestId, body: a.body }, error: null };
}

function failedLine(job: LineJob, a: LineAnswer | Error, message: string): OutputLine {
  if (!(a instanceof Error)) return answered(job, a);
  return { id: requestLineId(), custom_id: job.customId, response: null, error: { code: 'request_failed', message } };
}

function expiredLine(job: LineJob): OutputLine {
  const message = 'This request could not be executed before the completion window expired.';
  return { id: requestLineId(), custom_id: job.customId, response: null, error: { code: 'batch_expired', message } };
}

/** Exponential from 1 s (at most a minute), or what Retry-After asked. */
function retryDelayMs(attempt: number, retryAfterS: number | undefined): number {
  if (retryAfterS !== undefined) return Math.min(retryAfterS * 1000, 60_000);
  return Math.min(1000 * 2 ** (attempt - 1), 60_000);
}
