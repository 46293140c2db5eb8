import { Code } from '@connectrpc/connect';
import type { HttpRequest } from '@tokenmesh/server';

import { apiError } from '../../edge/api-error';
import { parseContentType } from './content-type';
import { readBody } from './http-json';

/** A multipart/form-data body: its text fields and its files, by field name. */
export interface FormBody {
  readonly fields: ReadonlyMap<string, string>;
  readonly files: ReadonlyMap<string, { readonly filename: string; readonly data: Uint8Array }>;
}

/**
 * Reads a multipart/form-data body of at most `limit` bytes and parses it with the platform's own parser (undici's, as `fetch` uses).
 * @throws ConnectError 400 (not multipart, malformed), 413 (too large)
 */
export async function readMultipart(req: HttpRequest, limit: number): Promise<FormBody> {
  const type = req.headers['content-type'] ?? '';
  if (parseContentType(type).mediaType !== 'multipart/form-data') {
    throw apiError(Code.InvalidArgument, null, `content-type must be multipart/form-data, got ${JSON.stringify(type)}`);
  }
  const body = await readBody(req, limit);
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': type } }).formData();
  } catch (err) {
    throw apiError(Code.InvalidArgument, null, `body is not valid multipart/form-data (${(err as Error).message})`);
  }
  const fields = new Map<string, string>();
  const files = new Map<string, { filename: string; data: Uint8Array }>();
  for (const [name, value] of form) {
    if (typeof value === 'string') fields.set(name, value);
    else files.set(name, { filename: value.name, data: new Uint8Array(await value.arrayBuffer()) });
  }
  return { fields, files };
}
