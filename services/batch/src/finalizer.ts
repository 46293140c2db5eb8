import { createHash } from 'node:crypto';

import {
  BATCH_RESULTS_STREAM,
  BATCH_SUBJECTS,
  type BatchRecord,
  type BatchStore,
  decodeMessage,
  type FileStore,
  isTerminal,
  type LineOutcome,
  type LineResult,
  linesDone,
  type Outcomes,
  requestCounts,
} from '@tokenmesh/batch';
import type { Bus } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';

import type { BatchCache } from './batch-cache';

export interface FinalizerDeps {
  readonly bus: Bus;
  readonly batches: BatchStore;
  readonly cache: BatchCache;
  readonly files: FileStore;
  readonly logger: Logger;
}

const now = () => Math.floor(Date.now() / 1000);

/** A batch's output (or error) file id, derived from the batch: a second finalizer writes the same file. */
const derivedFileId = (batchId: string, kind: 'output' | 'error') => `file-${createHash('sha256').update(`${batchId}:${kind}`).digest('hex').slice(0, 24)}`;

/**
 * Once every line of a batch has a result, writes the output file (answered lines) and the error
 * file (refused or failed ones), each line once and in the input's order, then marks the batch
 * completed (or cancelled, with what ran before the cancel; or expired, with what ran before the
 * completion window ended). Idempotent: runners may finish a
 * batch's last lines at once, and each may call this; they write the same files under the same ids.
 */
export async function finalizeIfDone(deps: FinalizerDeps, batchId: string): Promise<void> {
  // Per line: the total (which never changes) and four single-subject counts; the record itself only at the end.
  const created = await deps.cache.record(batchId);
  if (!created) return;
  const outcomes = await deps.batches.outcomes(batchId);
  if (linesDone(outcomes) < created.total) return;
  const record = await deps.batches.record(batchId);
  if (!record || isTerminal(record.status) || record.status === 'validating') return;
  if (record.status !== 'finalizing') await deps.batches.put({ ...record, status: 'finalizing', finalizingAt: now() });
  const byLine = new Map<number, LineResult>();
  await deps.bus.replay(
    BATCH_RESULTS_STREAM.name,
    (m) => {
      const r = decodeMessage<LineResult>(m.data);
      // The first result of a line counts (msgId dedup makes a second one rare: past the window, or a race).
      if (!byLine.has(r.line)) byLine.set(r.line, r);
    },
    { subjects: [BATCH_SUBJECTS.results(batchId)] },
  );
  const ordered = [...byLine.values()].sort((a, b) => a.line - b.line);
  const jsonl = (...outcomes: LineOutcome[]) =>
    ordered
      .filter((r) => outcomes.includes(r.outcome) && r.output)
      .map((r) => `${JSON.stringify(r.output)}\n`)
      .join('');
  const write = async (kind: 'output' | 'error', text: string) => {
    if (text === '') return undefined;
    const file = await deps.files.create(
      { owner: record.owner.keyName, filename: `${batchId}_${kind}.jsonl`, purpose: 'batch_output', data: new TextEncoder().encode(text) },
      derivedFileId(batchId, kind),
    );
    return file.id;
  };
  const outputFileId = await write('output', jsonl('ok'));
  const errorFileId = await write('error', jsonl('failed', 'expired'));
  const cancelled = (await deps.batches.cancelRequestedAt(batchId)) !== undefined;
  const tally: Outcomes = { ok: 0, failed: 0, expired: 0, cancelled: 0 };
  for (const r of ordered) tally[r.outcome]++;
  const counts = requestCounts(record.total, tally);
  const expired = tally.expired > 0;
  const done: BatchRecord = {
    ...record,
    status: cancelled ? 'cancelled' : expired ? 'expired' : 'completed',
    finalizingAt: record.finalizingAt ?? now(),
    ...(cancelled ? { cancelledAt: now() } : expired ? { expiredAt: now() } : { completedAt: now() }),
    ...(outputFileId && { outputFileId }),
    ...(errorFileId && { errorFileId }),
    finalCounts: counts,
  };
  await deps.batches.put(done);
  deps.logger.info('batch finished', { batch: batchId, status: done.status, ...counts });
}
