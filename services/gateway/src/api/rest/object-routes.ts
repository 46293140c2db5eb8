import { Code } from '@connectrpc/connect';
import type { HttpRequest } from '@tokenmesh/server';

import { apiError } from '../../edge/api-error';

/**
 * `{prefix}/{id}` as `item` and `{prefix}/{id}/{action}` as `actions[action]`: the templated
 * route names of a collection (files, batches), observed under these names (bounded labels).
 */
export function collectionRouteOf(prefix: string, path: string, item: string, actions: Record<string, string>): string | undefined {
  if (!path.startsWith(`${prefix}/`)) return undefined;
  const rest = path.slice(prefix.length + 1).split('/');
  if (!rest[0]) return undefined;
  if (rest.length === 1) return item;
  return rest.length === 2 ? actions[rest[1]!] : undefined;
}

/** The `{id}` of `/v1/<collection>/{id}[/…]`. */
export const objectIdOf = (req: HttpRequest): string => decodeURIComponent((req.url ?? '').split('?')[0]!.split('/')[3] ?? '');

/**
 * OpenAI's cursor pages: `limit` (1..max, default `fallback`) items after the one with id `after`,
 * as {object: "list", data, first_id, last_id, has_more}.
 * @throws ConnectError INVALID_ARGUMENT naming `limit`
 */
export function listPage<T extends { readonly id: string }>(req: HttpRequest, items: readonly T[], max: number, fallback: number) {
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  const limitText = q.get('limit');
  const limit = limitText === null ? fallback : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > max)
    throw apiError(Code.InvalidArgument, 'limit', `must be an integer from 1 to ${max}, got ${JSON.stringify(limitText)}`);
  const after = q.get('after');
  let rest = items;
  if (after !== null) {
    const at = items.findIndex((x) => x.id === after);
    rest = at < 0 ? [] : items.slice(at + 1);
  }
  const data = rest.slice(0, limit);
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: rest.length > limit };
}
