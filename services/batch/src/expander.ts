import {
  BATCH_SUBJECTS,
  type BatchJob,
  type BatchStore,
  decodeMessage,
  describeLineErrors,
  encodeMessage,
  type FileStore,
  isTerminal,
  type LineJob,
  lineMsgId,
  parseBatchInput,
} from '@tokenmesh/batch';
import type { Bus, DurableMessage } from '@tokenmesh/bus';
import type { Logger } from '@tokenmesh/logging';

export interface ExpanderDeps {
  readonly bus: Bus;
  readonly batches: BatchStore;
  readonly files: FileStore;
  readonly logger: Logger;
  /** GATEWAY_BATCH_MAX_LINES as the gateway checked the file with; a file is not re-judged by another limit. */
  readonly maxLines: number;
}

/** Lines published at once: the stream acks them in parallel, without holding a whole file's promises. */
const WINDOW = 256;

const now = () => Math.floor(Date.now() / 1000);

/**
 * Turns a created batch into one queued message per line. The batch is marked in progress first,
 * so a finalizer that runs when fast lines finish can never be overwritten by this. Killed midway,
 * the job is redelivered and expands again: lines already queued are dropped by msgId.
 */
export async function expandBatch(deps: ExpanderDeps, msg: DurableMessage): Promise<void> {
  const { batchId } = decodeMessage<BatchJob>(msg.data);
  const record = await deps.batches.record(batchId);
  if (!record || isTerminal(record.status)) return msg.ack();
  const fail = async (code: string, message: string) => {
    await deps.batches.put({ ...record, status: 'failed', failedAt: now(), errors: [{ code, message, param: 'input_file_id', line: null }] });
    msg.ack();
  };
  const found = await deps.files.content(record.owner.keyName, record.inputFileId);
  if (!found) return fail('file_not_found', `input file ${record.inputFileId} is gone`);
  const { lines, errors } = parseBatchInput(new TextDecoder().decode(found.data), deps.maxLines);
  if (errors.length > 0) return fail('invalid_file', describeLineErrors(errors));
  if (record.status === 'validating') await deps.batches.put({ ...record, status: 'in_progress', inProgressAt: now() });
  for (let i = 0; i < lines.length; i += WINDOW) {
    msg.working();
    const window = lines.slice(i, i + WINDOW);
    await Promise.all(
      window.map((l) => {
        const job: LineJob = { batchId, line: l.line, customId: l.customId, url: l.url, body: l.body };
        return deps.bus.publishDurable(BATCH_SUBJECTS.line(batchId), encodeMessage(job), { msgId: lineMsgId(batchId, l.customId), headers: msg.headers });
      }),
    );
  }
  deps.logger.info('batch queued', { batch: batchId, lines: lines.length });
  msg.ack();
}
