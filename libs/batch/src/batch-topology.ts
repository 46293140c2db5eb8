import type { StreamConfig } from '@tokenmesh/bus';

const DAY_MS = 24 * 3600 * 1000;

/**
 * A created batch waits here for the batch service to expand it into lines (work queue: one
 * runner takes it; msgId = the batch id, so a retried publish is stored once).
 */
export const BATCH_JOBS_STREAM: StreamConfig = {
  name: 'TOKENMESH_BATCH_JOBS',
  subjects: ['tokenmesh.batch.jobs.>'],
  retention: 'workqueue',
  duplicateWindowMs: DAY_MS,
};

/**
 * One message per request of a batch, shared by every runner (one durable consumer): an acked
 * line is gone. msgId = batch id + custom_id, so expanding a batch again after a crash adds
 * nothing within the window (a day: a batch's completion window).
 */
export const BATCH_LINES_STREAM: StreamConfig = {
  name: 'TOKENMESH_BATCH_LINES',
  subjects: ['tokenmesh.batch.lines.>'],
  retention: 'workqueue',
  duplicateWindowMs: DAY_MS,
};

/**
 * Each line's result, written once (msgId = batch id + custom_id): counting a batch's subjects
 * is its progress, reading them back is its output and error files.
 */
export const BATCH_RESULTS_STREAM: StreamConfig = {
  name: 'TOKENMESH_BATCH_RESULTS',
  subjects: ['tokenmesh.batch.results.>'],
  retention: 'limits',
  duplicateWindowMs: DAY_MS,
};

export const BATCH_STREAMS = [BATCH_JOBS_STREAM, BATCH_LINES_STREAM, BATCH_RESULTS_STREAM] as const;

/**
 * How a line ended: answered (output file), refused or failed (error file), not run before the
 * batch's completion window ended (error file, `batch_expired`), skipped by a cancel (neither).
 */
export type LineOutcome = 'ok' | 'failed' | 'expired' | 'cancelled';

export const BATCH_SUBJECTS = {
  job: (batchId: string) => `tokenmesh.batch.jobs.${batchId}`,
  line: (batchId: string) => `tokenmesh.batch.lines.${batchId}`,
  /** One subject per batch and outcome: a batch's progress is four single-subject counts. */
  result: (batchId: string, outcome: LineOutcome) => `tokenmesh.batch.results.${batchId}.${outcome}`,
  results: (batchId: string) => `tokenmesh.batch.results.${batchId}.*`,
} as const;

/** The msgId of a batch's line and of its result: the same line is stored once. */
export const lineMsgId = (batchId: string, customId: string): string => `${batchId}:${customId}`;
