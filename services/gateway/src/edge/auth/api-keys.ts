import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '@tokenmesh/logging';
import type { Store } from '@tokenmesh/store';
import { parse as parseYaml } from 'yaml';

/**
 * One API key as configured: never the key itself, only the SHA-256 of its UTF-8 bytes (hex).
 * The same shape in GATEWAY_API_KEYS_FILE (a YAML or JSON list) and in Redis (hash
 * `tokenmesh:apikeys`, field = sha256, value = this record as JSON).
 */
export interface KeyRecord {
  /** Safe to log: names the key in logs, events and rate-limit subjects. */
  readonly name: string;
  /** Lower-case hex SHA-256 of the key. */
  readonly sha256: string;
  /** Model names or name@version the key may use; absent = any. */
  readonly models?: readonly string[];
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
}

/** Where the gateway looks up keys by their digest. */
export interface KeySource {
  readonly kind: 'file' | 'redis';
  /** The record whose sha256 is `digestHex`, if any. @throws when the backing store fails. */
  lookup(digestHex: string): Promise<KeyRecord | undefined>;
  close(): Promise<void>;
}

/** The Redis hash (under the store's `tokenmesh:` prefix) that holds the keys. */
export const REDIS_KEYS_HASH = 'apikeys';

const FIELDS = new Set(['name', 'sha256', 'models', 'requests_per_minute', 'tokens_per_minute']);

/** SHA-256 of a presented key, as stored. */
export function sha256Hex(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Validates one record; `where` names it in errors (never with its digest). `field` is the Redis
 * hash field, which is the digest when the record omits `sha256`.
 * @throws Error naming the record and the field at fault.
 */
export function parseKeyRecord(raw: unknown, where: string, field?: string): KeyRecord {
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('must be an object {name, sha256, models?, requests_per_minute?, tokens_per_minute?}');
  const r = raw as Record<string, unknown>;
  const unknown = Object.keys(r).filter((k) => !FIELDS.has(k));
  if (unknown.length > 0) fail(`unknown field(s) ${unknown.join(', ')} (expected name, sha256, models, requests_per_minute, tokens_per_minute)`);
  const name = r['name'];
  if (typeof name !== 'string' || name.trim() === '' || name.length > 128) fail('name must be a non-empty string of at most 128 characters');
  const digest = r['sha256'] ?? field;
  if (typeof digest !== 'string' || !/^[0-9a-fA-F]{64}$/.test(digest)) fail('sha256 must be the 64 hex digits of the key\'s SHA-256');
  if (field !== undefined && (digest as string).toLowerCase() !== field.toLowerCase()) fail('sha256 differs from the hash field it is stored under');
  const models = r['models'];
  if (models !== undefined && (!Array.isArray(models) || models.length === 0 || !models.every((m) => typeof m === 'string' && m.trim() !== ''))) {
    fail('models must be a non-empty list of model names (name or name@version)');
  }
  const limit = (key: string): number | undefined => {
    const v = r[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`${key} must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const requestsPerMinute = limit('requests_per_minute');
  const tokensPerMinute = limit('tokens_per_minute');
  return {
    name: (name as string).trim(),
    sha256: (digest as string).toLowerCase(),
    ...(models === undefined ? {} : { models: (models as string[]).map((m) => m.trim()) }),
    ...(requestsPerMinute === undefined ? {} : { requestsPerMinute }),
    ...(tokensPerMinute === undefined ? {} : { tokensPerMinute }),
  };
}

/** Parses a key file's text (YAML, of which JSON is a subset): a non-empty list of records. */
export function parseKeyFile(text: string, where: string): KeyRecord[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`${where}: not valid YAML or JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (!Array.isArray(doc) || doc.length === 0) throw new Error(`${where}: must be a non-empty list of {name, sha256, models?, requests_per_minute?, tokens_per_minute?}`);
  const records = doc.map((r, i) => parseKeyRecord(r, `${where}: entry ${i}`));
  const digests = new Set<string>();
  const names = new Set<string>();
  records.forEach((r, i) => {
    if (digests.has(r.sha256)) throw new Error(`${where}: entry ${i} (${r.name}) repeats the sha256 of an earlier entry`);
    if (names.has(r.name)) throw new Error(`${where}: entry ${i} repeats the name ${JSON.stringify(r.name)}`);
    digests.add(r.sha256);
    names.add(r.name);
  });
  return records;
}

/** Keys from a file, read once at start. @throws Error naming GATEWAY_API_KEYS_FILE and the entry at fault. */
export async function fileKeySource(path: string): Promise<KeySource> {
  const where = `GATEWAY_API_KEYS_FILE (${path})`;
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => Promise.reject(new Error(`${where}: cannot read it (${err.code ?? err.message})`)));
  const byDigest = new Map(parseKeyFile(text, where).map((r) => [r.sha256, r]));
  return { kind: 'file', lookup: async (d) => byDigest.get(d), close: async () => undefined };
}

export interface RedisKeySourceOptions {
  /** Re-read the hash at most this often; added and revoked keys take effect within it. Default 5000. */
  readonly refreshMs?: number;
  /** Told about records that fail validation (by name, never by digest). */
  readonly logger?: Logger;
  /** Closes the store with the source (when the source owns it). */
  readonly ownsStore?: boolean;
}

/**
 * Keys from the Redis hash `tokenmesh:apikeys` (field = sha256 → JSON record), read whole with
 * `hGetAll` and kept for `refreshMs`: a flood of wrong keys costs Redis nothing. A failed refresh
 * keeps serving the last good copy; with none yet, lookups fail (the gateway answers 503).
 */
export function redisKeySource(store: Store, opts: RedisKeySourceOptions = {}): KeySource {
  const refreshMs = opts.refreshMs ?? 5000;
  let cached: Map<string, KeyRecord> | undefined;
  let loadedAt = -Infinity;
  let loading: Promise<Map<string, KeyRecord>> | undefined;
  const load = async (): Promise<Map<string, KeyRecord>> => {
    const hash = await store.hGetAll(REDIS_KEYS_HASH);
    const out = new Map<string, KeyRecord>();
    for (const [field, json] of Object.entries(hash)) {
      try {
        const r = parseKeyRecord(JSON.parse(json) as unknown, 'Redis tokenmesh:apikeys record', field);
        out.set(r.sha256, r);
      } catch (err) {
        // The message names the record by position only; the digest (the field) stays out of logs.
        opts.logger?.warn('ignoring an invalid API key record in Redis', { reason: err instanceof SyntaxError ? 'not JSON' : (err as Error).message });
      }
    }
    return out;
  };
  // Once loaded, requests never wait for Redis: a stale copy is answered from while one refresh
  // runs behind it (a revoked key stops working within about one refresh period).
  const current = async (): Promise<Map<string, KeyRecord>> => {
    if (cached) {
      if (performance.now() - loadedAt >= refreshMs) void refresh();
      return cached;
    }
    return refresh();
  };
  const refresh = (): Promise<Map<string, KeyRecord>> => {
    loading ??= load()
      .then((m) => {
        cached = m;
        loadedAt = performance.now();
        return m;
      })
      .catch((err: unknown) => {
        if (cached) {
          opts.logger?.warn('cannot refresh API keys from Redis, using the last copy', { err });
          // Try again a period later, not on every request while Redis is down.
          loadedAt = performance.now();
          return cached;
        }
        throw err;
      })
      .finally(() => (loading = undefined));
    return loading;
  };
  return {
    kind: 'redis',
    lookup: async (d) => (await current()).get(d),
    close: async () => {
      if (opts.ownsStore) await store.close();
    },
  };
}
