import { timingSafeEqual } from 'node:crypto';

import { Code, ConnectError } from '@connectrpc/connect';

import { anonymous, type Caller } from '../edge-policy';
import { type KeyRecord, type KeySource, sha256Hex } from './api-keys';

/** Why a request was refused; `code` is the OpenAI-style error code REST callers see. */
export interface AuthFailure {
  readonly code: 'missing_api_key' | 'invalid_api_key';
  readonly message: string;
}

export type AuthResult = { readonly caller: Caller; readonly failure?: undefined } | { readonly caller?: undefined; readonly failure: AuthFailure };

/** Reads a request header by lower-case name (REST, Connect and gRPC metadata alike). */
export type HeaderLookup = (name: string) => string | undefined;

const MISSING: AuthFailure = { code: 'missing_api_key', message: 'missing API key: send it as "Authorization: Bearer <key>" or "x-api-key: <key>"' };
const INVALID: AuthFailure = { code: 'invalid_api_key', message: 'invalid API key' };
const NOT_BEARER: AuthFailure = { code: 'invalid_api_key', message: 'invalid API key: the Authorization header must be "Bearer <key>"' };

/** The caller a key record stands for: its name, subject `key:<name>`, models and limits. */
export function callerForKey(r: KeyRecord): Caller {
  const limits = {
    ...(r.requestsPerMinute === undefined ? {} : { requestsPerMinute: r.requestsPerMinute }),
    ...(r.tokensPerMinute === undefined ? {} : { tokensPerMinute: r.tokensPerMinute }),
  };
  return {
    keyName: r.name,
    subject: `key:${r.name}`,
    ...(r.models ? { allowedModels: r.models } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
}

/** The presented key: `Authorization: Bearer <key>` first, else `x-api-key`. */
function presentedKey(header: HeaderLookup): { key: string } | { failure: AuthFailure } {
  const authorization = header('authorization')?.trim();
  if (authorization) {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    return m ? { key: m[1]! } : { failure: NOT_BEARER };
  }
  const key = header('x-api-key')?.trim();
  return key ? { key } : { failure: MISSING };
}

/**
 * API-key authentication shared by the REST dispatcher and the Connect interceptor. Without a
 * key source every caller is anonymous (by address); with one, a request needs a key whose
 * SHA-256 is configured. The key is hashed on arrival and looked up by that digest, so any
 * timing difference tells about the digest, never the key (the constant-time comparison after
 * the lookup is defence in depth); neither the key nor its digest is ever logged or returned.
 */
export class ApiKeyAuth {
  constructor(private readonly source?: KeySource) {}

  /**
   * The caller, or why the request is refused. `ip` names anonymous callers.
   * @throws ConnectError UNAVAILABLE when the key store cannot be read.
   */
  async authenticate(header: HeaderLookup, ip: string): Promise<AuthResult> {
    if (!this.source) return { caller: anonymous(ip) };
    const presented = presentedKey(header);
    if ('failure' in presented) return { failure: presented.failure };
    const digest = sha256Hex(presented.key);
    let record: KeyRecord | undefined;
    try {
      record = await this.source.lookup(digest);
    } catch {
      throw new ConnectError('API keys are unavailable (key store unreachable), try again', Code.Unavailable);
    }
    if (!record || !timingSafeEqual(Buffer.from(digest, 'hex'), Buffer.from(record.sha256, 'hex'))) return { failure: INVALID };
    return { caller: callerForKey(record) };
  }

  close(): Promise<void> {
    return this.source?.close() ?? Promise.resolve();
  }
}
