import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { Problems, readValue } from '@tokenmesh/config';
import type { Logger } from '@tokenmesh/logging';
import { Refreshing } from '@tokenmesh/refresh';
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

const FIELDS = ['name', 'sha256', 'models', 'requests_per_minute', 'tokens_per_minute'];

/** SHA-256 of a presented key, as stored. */
export function sha256Hex(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

const HEX_64 = /^[0-9a-fA-F]{64}$/;
const LIMIT = { integer: true, min: 1, want: 'a positive integer' } as const;

/**
 * Validates one record; `where` names it in errors (never with its digest). `field` is the Redis
 * hash field, which is the digest when the record omits `sha256`.
 * @throws Error naming the record and every field at fault (`<where>: a; b`).
 */
export function parseKeyRecord(raw: unknown, where: string, field?: string): KeyRecord {
  const problems = new Problems();
  const fail = () => new Error(`${where}: ${problems.lines().join('; ')}`);
  const r = readValue(raw, { problems }).object({
    message: 'must be an object {name, sha256, models?, requests_per_minute?, tokens_per_minute?}',
    required: true,
  });
  if (!r) throw fail();
  r.unknownKeys(FIELDS, (keys) => `unknown field(s) ${keys.join(', ')} (expected name, sha256, models, requests_per_minute, tokens_per_minute)`);
  const name = r.string('name', {
    test: (s) => s.trim() !== '' && s.length <= 128,
    message: 'must be a non-empty string of at most 128 characters',
    required: true,
  });
  // The digest is never shown: it identifies the key.
  const digest = r.field('sha256', field).string({ test: (s) => HEX_64.test(s), message: "must be the 64 hex digits of the key's SHA-256", required: true });
  if (digest !== undefined && field !== undefined)
    r.check(digest.toLowerCase() === field.toLowerCase(), 'sha256', 'differs from the hash field it is stored under');
  const listed = r.field('models');
  const modelsWanted = 'must be a non-empty list of model names (name or name@version)';
  // `models: null` is not "any model": only leaving the field out is.
  if (listed.value === null) listed.problem(modelsWanted);
  const models = listed.strings({ nonEmpty: true, test: (m) => m.trim() !== '', message: modelsWanted });
  const requestsPerMinute = r.number('requests_per_minute', LIMIT);
  const tokensPerMinute = r.number('tokens_per_minute', LIMIT);
  r.done(fail);
  return {
    name: name!.trim(),
    sha256: digest!.toLowerCase(),
    ...(models === undefined ? {} : { models: models.map((m) => m.trim()) }),
    ...(requestsPerMinute === undefined ? {} : { requestsPerMinute }),
    ...(tokensPerMinute === undefined ? {} : { tokensPerMinute }),
  };
}

/**
 * Parses a key file's text (YAML, of which JSON is a subset): a non-empty list of records.
 * @throws Error naming every entry at fault, one line each.
 */
export function parseKeyFile(text: string, where: string): KeyRecord[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`${where}: not valid YAML or JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (!Array.isArray(doc) || doc.length === 0)
    throw new Error(`${where}: must be a non-empty list of {name, sha256, models?, requests_per_minute?, tokens_per_minute?}`);
  const problems: string[] = [];
  const records: KeyRecord[] = [];
  doc.forEach((raw: unknown, i) => {
    try {
      records[i] = parseKeyRecord(raw, `${where}: entry ${i}`);
    } catch (err) {
      problems.push((err as Error).message);
    }
  });
  const digests = new Set<string>();
  const names = new Set<string>();
  records.forEach((r, i) => {
    if (digests.has(r.sha256)) problems.push(`${where}: entry ${i} (${r.name}) repeats the sha256 of an earlier entry`);
    else if (names.has(r.name)) problems.push(`${where}: entry ${i} repeats the name ${JSON.stringify(r.name)}`);
    digests.add(r.sha256);
    names.add(r.name);
  });
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return records;
}

/** Keys from a file, read once at start. @throws Error naming GATEWAY_API_KEYS_FILE and the entry at fault. */
export async function fileKeySource(path: string): Promise<KeySource> {
  const where = `GATEWAY_API_KEYS_FILE (${path})`;
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) =>
    Promise.reject(new Error(`${where}: cannot read it (${err.code ?? err.message})`)),
  );
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
  const keys = new Refreshing({
    load,
    maxAgeMs: opts.refreshMs ?? 5000,
    // Once loaded, requests never wait for Redis: a stale copy is answered from while one refresh
    // runs behind it (a revoked key stops working within about one refresh period).
    whenStale: 'serve',
    // A failed refresh keeps the last copy and is tried again a period later, not on every request.
    onFailure: 'keep',
    onKeptError: (err) => opts.logger?.warn('cannot refresh API keys from Redis, using the last copy', { err }),
  });
  return {
    kind: 'redis',
    lookup: async (d) => (await keys.get()).get(d),
    close: async () => {
      if (opts.ownsStore) await store.close();
    },
  };
}
