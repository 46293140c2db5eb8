import { Code } from '@connectrpc/connect';
import { describeLineErrors, type FileStore, parseBatchInput } from '@tokenmesh/batch';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import { apiError } from '../../edge/api-error';
import { callerOf } from '../../edge/auth/request-caller';
import { objectNotFound, sendJson } from './http-json';
import { readMultipart } from './multipart-body';
import { collectionRouteOf, listPage, objectIdOf } from './object-routes';
import type { RequestContext } from './request-context';

export interface FilesDeps {
  readonly files: FileStore;
  /** GATEWAY_FILE_LIMIT_BYTES: the largest upload. */
  readonly fileLimitBytes: number;
  /** GATEWAY_BATCH_MAX_LINES: the most requests in one batch input file. */
  readonly maxBatchLines: number;
}

export const FILES_PATH = '/v1/files';
/** The templated routes, observed under these names (bounded labels). */
export const FILE_ROUTE = '/v1/files/{file_id}';
export const FILE_CONTENT_ROUTE = '/v1/files/{file_id}/content';

/** Which files route a path is, if any. */
export const filesRouteOf = (path: string): string | undefined => collectionRouteOf(FILES_PATH, path, FILE_ROUTE, { content: FILE_CONTENT_ROUTE });

const noSuchFile = (id: string) => objectNotFound(`No such File object: ${id}`);

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * POST /v1/files — multipart `file` and `purpose` ("batch"), as OpenAI's Files API. A batch input
 * file is checked line by line before it is stored (each error names its line), so a batch
 * never starts from a file it cannot read.
 */
export async function uploadFileRoute(req: HttpRequest, res: HttpResponse, _ctx: RequestContext, deps: FilesDeps): Promise<void> {
  const form = await readMultipart(req, deps.fileLimitBytes);
  const purpose = form.fields.get('purpose');
  if (purpose === undefined) throw apiError(Code.InvalidArgument, 'purpose', 'is required');
  if (purpose !== 'batch')
    throw apiError(Code.InvalidArgument, 'purpose', `must be "batch" (the only purpose this server uses files for), got ${JSON.stringify(purpose)}`);
  const file = form.files.get('file');
  if (!file) throw apiError(Code.InvalidArgument, 'file', 'is required: a multipart part named "file" with the JSONL requests');
  let text: string;
  try {
    text = UTF8.decode(file.data);
  } catch {
    throw apiError(Code.InvalidArgument, 'file', 'is not valid UTF-8');
  }
  const { errors } = parseBatchInput(text, deps.maxBatchLines);
  if (errors.length > 0) throw apiError(Code.InvalidArgument, 'file', `is not a valid batch input file: ${describeLineErrors(errors)}`);
  const created = await deps.files.create({ owner: callerOf(req).keyName, filename: file.filename || 'upload.jsonl', purpose, data: file.data });
  sendJson(res, 200, created);
}

/** GET /v1/files — the caller's files, newest first; `purpose`, `limit` (1–10000, default 10000), `after`, `order`. */
export async function listFilesRoute(req: HttpRequest, res: HttpResponse, _ctx: RequestContext, deps: FilesDeps): Promise<void> {
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  const order = q.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw apiError(Code.InvalidArgument, 'order', `must be "asc" or "desc", got ${JSON.stringify(order)}`);
  const all = await deps.files.list(callerOf(req).keyName, q.get('purpose') ?? undefined);
  sendJson(res, 200, listPage(req, order === 'asc' ? all.reverse() : all, 10_000, 10_000));
}

/** GET /v1/files/{file_id} — 404 for a file the caller does not own, as for one that does not exist. */
export async function getFileRoute(req: HttpRequest, res: HttpResponse, _ctx: RequestContext, deps: FilesDeps): Promise<void> {
  const id = objectIdOf(req);
  const file = await deps.files.get(callerOf(req).keyName, id);
  if (!file) throw noSuchFile(id);
  sendJson(res, 200, file);
}

/** GET /v1/files/{file_id}/content — the bytes as uploaded (or as the batch lane wrote them). */
export async function fileContentRoute(req: HttpRequest, res: HttpResponse, _ctx: RequestContext, deps: FilesDeps): Promise<void> {
  const id = objectIdOf(req);
  const found = await deps.files.content(callerOf(req).keyName, id);
  if (!found) throw noSuchFile(id);
  res.writeHead(200, {
    'content-type': 'application/jsonl',
    'content-length': found.data.length,
    'content-disposition': `attachment; filename="${found.file.filename.replace(/["\\\r\n]/g, '_')}"`,
  });
  res.end(found.data);
}

/** DELETE /v1/files/{file_id} */
export async function deleteFileRoute(req: HttpRequest, res: HttpResponse, _ctx: RequestContext, deps: FilesDeps): Promise<void> {
  const id = objectIdOf(req);
  if (!(await deps.files.delete(callerOf(req).keyName, id))) throw noSuchFile(id);
  sendJson(res, 200, { id, object: 'file', deleted: true });
}
