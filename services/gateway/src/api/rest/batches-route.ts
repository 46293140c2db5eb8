import { Code } from '@connectrpc/connect';
import {
  BATCH_ENDPOINTS,
  BATCH_JOBS_STREAM,
  BATCH_SUBJECTS,
  type BatchEndpoint,
  type BatchRecord,
  type BatchStore,
  describeLineErrors,
  encodeMessage,
  type FileStore,
  isTerminal,
  newBatchId,
  parseBatchInput,
} from '@tokenmesh/batch';
import type { Bus } from '@tokenmesh/bus';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';
import { injectContext } from '@tokenmesh/telemetry';

import { apiError } from '../../edge/api-error';
import { callerOf } from '../../edge/auth/request-caller';
import { conflictAnswer, objectNotFound, readJson, sendJson } from './http-json';
import { collectionRouteOf, listPage, objectIdOf } from './object-routes';
import type { RequestContext } from './request-context';

export interface BatchesDeps {
  readonly bus: Bus;
  readonly batches: BatchStore;
  readonly files: FileStore;
  readonly bodyLimitBytes: number;
  readonly maxBatchLines: number;
  /**
   * Why batches cannot run here, if they cannot: with API keys and no GATEWAY_BATCH_TOKEN the
   * batch service could not run lines as their owner, so creating one is refused up front.
   */
  readonly unavailable?: string;
}

export const BATCHES_PATH = '/v1/batches';
export const BATCH_ROUTE = '/v1/batches/{batch_id}';
export const BATCH_CANCEL_ROUTE = '/v1/batches/{batch_id}/cancel';

/** Which batches route a path is, if any. */
export const batchesRouteOf = (path: string): string | undefined => collectionRouteOf(BATCHES_PATH, path, BATCH_ROUTE, { cancel: BATCH_CANCEL_ROUTE });

const noSuchBatch = (id: string) => objectNotFound(`No such Batch object: ${id}`);

/** OpenAI's metadata rules: at most 16 string pairs, keys up to 64 characters, values up to 512. */
function metadataOf(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw apiError(Code.InvalidArgument, 'metadata', 'must be an object of strings');
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 16) throw apiError(Code.InvalidArgument, 'metadata', `has ${entries.length} keys; the limit is 16`);
  for (const [k, val] of entries) {
    if (k.length > 64) throw apiError(Code.InvalidArgument, 'metadata', `key ${JSON.stringify(k.slice(0, 16))}… is longer than 64 characters`);
    if (typeof val !== 'string') throw apiError(Code.InvalidArgument, `metadata.${k}`, 'must be a string');
    if (val.length > 512) throw apiError(Code.InvalidArgument, `metadata.${k}`, 'is longer than 512 characters');
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/**
 * POST /v1/batches — {input_file_id, endpoint, completion_window: "24h", metadata?}. The file is
 * the caller's batch input, every line for `endpoint`; the batch is stored (validating) and queued
 * for the batch service, which expands it into lines.
 */
export async function createBatchRoute(req: HttpRequest, res: HttpResponse, _ctx: RequestContext, deps: BatchesDeps): Promise<void> {
  if (deps.unavailable) throw apiError(Code.Unavailable, null, deps.unavailable);
  const body = await readJson(req, deps.bodyLimitBytes);
  const inputFileId = body['input_file_id'];
  if (typeof inputFileId !== 'string' || inputFileId === '')
    throw apiError(Code.InvalidArgument, 'input_file_id', 'is required: the id of a file uploaded with purpose "batch"');
  const endpoint = body['endpoint'];
  if (!BATCH_ENDPOINTS.includes(endpoint as BatchEndpoint))
    throw apiError(Code.InvalidArgument, 'endpoint', `must be one of ${BATCH_ENDPOINTS.join(', ')}, got ${JSON.stringify(endpoint ?? null)}`);
  const window = body['completion_window'];
  if (window !== '24h') throw apiError(Code.InvalidArgument, 'completion_window', `must be "24h", got ${JSON.stringify(window ?? null)}`);
  const metadata = metadataOf(body['metadata']);
  const caller = callerOf(req);
  const found = await deps.files.content(caller.keyName, inputFileId);
  if (!found) throw objectNotFound(`No such File object: ${inputFileId}`);
  if (found.file.purpose !== 'batch')
    throw apiError(Code.InvalidArgument, 'input_file_id', `file ${inputFileId} has purpose ${JSON.stringify(found.file.purpose)}, not "batch"`);
  const { lines, errors } = parseBatchInput(new TextDecoder().decode(found.data), deps.maxBatchLines);
  const elsewhere = lines
    .filter((l) => l.url !== endpoint)
    .map((l) => ({ line: l.line, message: `url: is ${l.url}, but the batch's endpoint is ${endpoint as string}` }));
  const all = [...errors, ...elsewhere].sort((a, b) => a.line - b.line);
  if (all.length > 0) throw apiError(Code.InvalidArgument, 'input_file_id', `file ${inputFileId} cannot run as this batch: ${describeLineErrors(all)}`);
  const now = Math.floor(Date.now() / 1000);
  const record: BatchRecord = {
    id: newBatchId(),
    owner: { keyName: caller.keyName, ...(caller.allowedModels && { allowedModels: caller.allowedModels }), ...(caller.limits && { limits: caller.limits }) },
    endpoint: endpoint as BatchEndpoint,
    inputFileId,
    completionWindow: window,
    metadata,
    createdAt: now,
    expiresAt: now + 24 * 3600,
    total: lines.length,
    status: 'validating',
  };
  await deps.batches.put(record);
  // The creation's trace context travels with the job and each of its lines: every line's span links to it.
  const job = { msgId: record.id, headers: injectContext() };
  await deps.bus.publishDurable(BATCH_SUBJECTS.job(record.id), encodeMessage({ batchId: record.id }), job).catch((err: unknown) => {
    throw apiError(Code.Unavailable, null, `the batch queue (${BATCH_JOBS_STREAM.name}) is unavailable: ${(err as Error).message}`);
  });
  sendJson(res, 200, await deps.batches.view(record));
}

/** GET /v1/batches/{batch_id} — with live request_counts. */
export async function getBatchRoute(req: HttpRequest, res: HttpResponse, _ctx: RequestContext, deps: BatchesDeps): Promise<void> {
  const id = objectIdOf(req);
  const batch = await deps.batches.get(callerOf(req).keyName, id);
  if (!batch) throw noSuchBatch(id);
  sendJson(res, 200, batch);
}

/** GET /v1/batches — the caller's batches, newest first; `limit` (1–100, default 20) and `after`. */
export async function listBatchesRoute(req: HttpRequest, res: HttpResponse, _ctx: RequestContext, deps: BatchesDeps): Promise<void> {
  sendJson(res, 200, listPage(req, await deps.batches.list(callerOf(req).keyName), 100, 20));
}

/** POST /v1/batches/{batch_id}/cancel — no new lines start; the batch ends `cancelled` with what ran. */
export async function cancelBatchRoute(req: HttpRequest, res: HttpResponse, _ctx: RequestContext, deps: BatchesDeps): Promise<void> {
  const id = objectIdOf(req);
  const owner = callerOf(req).keyName;
  const batch = await deps.batches.get(owner, id);
  if (!batch) throw noSuchBatch(id);
  if (isTerminal(batch.status)) throw conflictAnswer(`Cannot cancel a batch with status ${batch.status}`);
  await deps.batches.requestCancel(id);
  sendJson(res, 200, (await deps.batches.get(owner, id))!);
}
