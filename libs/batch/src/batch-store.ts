import { randomBytes } from 'node:crypto';

import { Code, ConnectError } from '@connectrpc/connect';
import type { Bus, ObjectBucket } from '@tokenmesh/bus';

import type { BatchEndpoint } from './batch-input';
import { BATCH_RESULTS_STREAM, BATCH_SUBJECTS, type LineOutcome } from './batch-topology';

/** The bucket of batch records (and their cancel requests). */
export const BATCHES_BUCKET = 'TOKENMESH_BATCHES';

/** OpenAI's batch statuses. */
export type BatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

const TERMINAL: readonly BatchStatus[] = ['failed', 'completed', 'expired', 'cancelled'];

export interface BatchError {
  readonly code: string;
  readonly message: string;
  readonly param: string | null;
  readonly line: number | null;
}

/** Who a batch runs as: the creating key's name and what the key may use, so lines run under the key's own rules. */
export interface BatchOwner {
  readonly keyName: string;
  readonly allowedModels?: readonly string[];
  readonly limits?: { readonly requestsPerMinute?: number; readonly tokensPerMinute?: number };
}

/** What is stored per batch. Times are Unix seconds. Written by the gateway (create) and the batch service (the rest). */
export interface BatchRecord {
  readonly id: string;
  readonly owner: BatchOwner;
  readonly endpoint: BatchEndpoint;
  readonly inputFileId: string;
  readonly completionWindow: string;
  readonly metadata: Record<string, string> | null;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Requests in the input file. */
  readonly total: number;
  readonly status: BatchStatus;
  readonly errors?: readonly BatchError[];
  readonly inProgressAt?: number;
  readonly finalizingAt?: number;
  readonly completedAt?: number;
  readonly failedAt?: number;
  readonly cancelledAt?: number;
  /** Set when the completion window ended before every line ran. */
  readonly expiredAt?: number;
  readonly outputFileId?: string;
  readonly errorFileId?: string;
  /** Set when the batch is over: the counts it ended with. */
  readonly finalCounts?: RequestCounts;
}

export interface RequestCounts {
  readonly total: number;
  readonly completed: number;
  readonly failed: number;
}

/** A batch's lines by how they ended. */
export type Outcomes = Record<LineOutcome, number>;

/** Lines with a result, whatever it was: the batch is done when this reaches its total. */
export const linesDone = (o: Outcomes): number => o.ok + o.failed + o.expired + o.cancelled;

/** OpenAI's request_counts, which have no expired: a line the window closed on did not succeed. */
export const requestCounts = (total: number, o: Outcomes): RequestCounts => ({ total, completed: o.ok, failed: o.failed + o.expired });

/** OpenAI's Batch object. */
export interface BatchObject {
  readonly id: string;
  readonly object: 'batch';
  readonly endpoint: string;
  readonly errors: { readonly object: 'list'; readonly data: readonly BatchError[] } | null;
  readonly input_file_id: string;
  readonly completion_window: string;
  readonly status: BatchStatus;
  readonly output_file_id: string | null;
  readonly error_file_id: string | null;
  readonly created_at: number;
  readonly in_progress_at: number | null;
  readonly expires_at: number;
  readonly finalizing_at: number | null;
  readonly completed_at: number | null;
  readonly failed_at: number | null;
  readonly expired_at: number | null;
  readonly cancelling_at: number | null;
  readonly cancelled_at: number | null;
  readonly request_counts: RequestCounts;
  readonly metadata: Record<string, string> | null;
}

const BATCH_ID = /^batch_[0-9a-f]{24}$/;
const enc = new TextEncoder();
const dec = new TextDecoder();

export const newBatchId = (): string => `batch_${randomBytes(12).toString('hex')}`;
export const isBatchId = (id: string): boolean => BATCH_ID.test(id);
export const isTerminal = (s: BatchStatus): boolean => TERMINAL.includes(s);
const cancelName = (id: string) => `cancel.${id}`;

/**
 * Batch records in an object bucket, by owner as files are (another key's batch is no batch).
 * A cancel is its own object, written once by the gateway and never by the batch service, so a
 * record the service rewrites cannot lose it. Progress is counted on the results stream.
 */
export class BatchStore {
  private bucket?: Promise<ObjectBucket>;

  constructor(private readonly bus: Bus) {}

  private async objects(): Promise<ObjectBucket> {
    this.bucket ??= this.bus.objectBucket(BATCHES_BUCKET).catch((err: unknown) => {
      this.bucket = undefined;
      throw unavailable(err);
    });
    return this.bucket;
  }

  private async call<T>(f: (b: ObjectBucket) => Promise<T>): Promise<T> {
    const b = await this.objects();
    try {
      return await f(b);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async put(record: BatchRecord): Promise<void> {
    await this.call((b) => b.put(record.id, enc.encode(JSON.stringify(record)), { owner: record.owner.keyName }));
  }

  /** The record, whoever owns it (the batch service's view). */
  async record(id: string): Promise<BatchRecord | undefined> {
    if (!isBatchId(id)) return undefined;
    const data = await this.call((b) => b.get(id));
    return data && (JSON.parse(dec.decode(data)) as BatchRecord);
  }

  /** The caller's batch as OpenAI shows it, or undefined when the caller has none of that id. */
  async get(owner: string, id: string): Promise<BatchObject | undefined> {
    const r = await this.record(id);
    return r && r.owner.keyName === owner ? this.view(r) : undefined;
  }

  /** The caller's batches, newest first. */
  async list(owner: string): Promise<BatchObject[]> {
    const infos = await this.call((b) => b.list());
    const mine = infos.filter((o) => isBatchId(o.name) && o.meta['owner'] === owner).sort((a, b) => b.storedAtMs - a.storedAtMs);
    const records = (await Promise.all(mine.map((o) => this.record(o.name)))).filter((r): r is BatchRecord => r !== undefined);
    return Promise.all(records.sort((a, b) => b.createdAt - a.createdAt).map((r) => this.view(r)));
  }

  /** Asks the batch service to stop starting the batch's lines; the time it was asked. */
  async requestCancel(id: string): Promise<number> {
    const at = await this.cancelRequestedAt(id);
    if (at !== undefined) return at;
    const now = Math.floor(Date.now() / 1000);
    await this.call((b) => b.put(cancelName(id), enc.encode(String(now))));
    return now;
  }

  async cancelRequestedAt(id: string): Promise<number | undefined> {
    const data = await this.call((b) => b.get(cancelName(id)));
    return data && Number(dec.decode(data));
  }

  /** Lines with each outcome so far, counted on the results stream. */
  async outcomes(id: string): Promise<Outcomes> {
    const count = (o: LineOutcome) =>
      this.bus.countMessages(BATCH_RESULTS_STREAM.name, BATCH_SUBJECTS.result(id, o)).catch((err: unknown) => {
        throw unavailable(err);
      });
    const [ok, failed, expired, cancelled] = await Promise.all([count('ok'), count('failed'), count('expired'), count('cancelled')]);
    return { ok, failed, expired, cancelled };
  }

  async view(r: BatchRecord): Promise<BatchObject> {
    const cancellingAt = await this.cancelRequestedAt(r.id);
    const counts = r.finalCounts ?? requestCounts(r.total, await this.outcomes(r.id));
    const status: BatchStatus = cancellingAt !== undefined && !isTerminal(r.status) ? 'cancelling' : r.status;
    return {
      id: r.id,
      object: 'batch',
      endpoint: r.endpoint,
      errors: r.errors && r.errors.length > 0 ? { object: 'list', data: r.errors } : null,
      input_file_id: r.inputFileId,
      completion_window: r.completionWindow,
      status,
      output_file_id: r.outputFileId ?? null,
      error_file_id: r.errorFileId ?? null,
      created_at: r.createdAt,
      in_progress_at: r.inProgressAt ?? null,
      expires_at: r.expiresAt,
      finalizing_at: r.finalizingAt ?? null,
      completed_at: r.completedAt ?? null,
      failed_at: r.failedAt ?? null,
      expired_at: r.expiredAt ?? null,
      cancelling_at: cancellingAt ?? null,
      cancelled_at: r.cancelledAt ?? null,
      request_counts: counts,
      metadata: r.metadata,
    };
  }
}

function unavailable(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  return new ConnectError(`the batch store is unavailable: ${(err as Error).message}`, Code.Unavailable);
}
