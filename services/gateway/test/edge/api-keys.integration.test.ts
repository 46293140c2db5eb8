import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type Client, Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { createMetrics } from '@tokenmesh/metrics';
import { Health, HealthCheckResponse_ServingStatus, InferenceService } from '@tokenmesh/proto';
import { type ServerHandle, startServer } from '@tokenmesh/server';
import { RedisStore } from '@tokenmesh/store';
import { type ServiceProcess, startRedis, waitFor } from '@tokenmesh/testing';
import { Redis } from 'ioredis';

import { inferenceService } from '../../src/api/grpc/inference-api';
import { restApi } from '../../src/api/rest/rest-api';
import { loadConfig } from '../../src/config';
import { ApiKeyAuth } from '../../src/edge/auth/api-key-auth';
import { parseKeyFile, redisKeySource, sha256Hex } from '../../src/edge/auth/api-keys';
import { authInterceptor } from '../../src/edge/auth/auth-interceptor';
import { modelAllowed } from '../../src/edge/auth/model-access';
import { startAuth } from '../../src/edge/auth/start-auth';
import type { Caller, RateLimiter } from '../../src/edge/edge-policy';
import { fakeFeedback, gatewayWithoutUpstreams } from '../fakes';
import { inMemoryMesh } from '../in-memory-mesh';

const ALPHA = 'tm-alpha-0123456789abcdefghijklmnopqrstuv';
const BETA = 'tm-beta-zyxwvutsrqponmlkjihgfedcba98765';
const WRONG = 'tm-wrong-key-that-nobody-configured-000';

/** A YAML key file: alpha may use any model (with limits), beta only a model the mesh lacks. */
const KEY_FILE = `
- name: alpha
  sha256: ${sha256Hex(ALPHA)}
  requests_per_minute: 60
  tokens_per_minute: 10000
- name: beta
  sha256: ${sha256Hex(BETA).toUpperCase()}
  models: [other-model, tinyllama@7]
`;

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string } };

describe('API key records and config', () => {
  it('parses YAML and JSON lists; errors name the entry and field, never the digest', () => {
    const [a, b] = parseKeyFile(KEY_FILE, 'keys.yaml');
    expect(a).toEqual({ name: 'alpha', sha256: sha256Hex(ALPHA), requestsPerMinute: 60, tokensPerMinute: 10000 });
    expect(b).toEqual({ name: 'beta', sha256: sha256Hex(BETA), models: ['other-model', 'tinyllama@7'] });
    expect(parseKeyFile(JSON.stringify([{ name: 'j', sha256: 'a'.repeat(64) }]), 'k.json')).toEqual([{ name: 'j', sha256: 'a'.repeat(64) }]);
    expect(() => parseKeyFile('[]', 'k')).toThrow('k: must be a non-empty list');
    expect(() => parseKeyFile('[{name: x, sha256: abc}]', 'k')).toThrow("k: entry 0: sha256 must be the 64 hex digits of the key's SHA-256");
    expect(() => parseKeyFile(`[{name: x, sha256: ${'b'.repeat(64)}, model: [m]}]`, 'k')).toThrow('k: entry 0: unknown field(s) model');
    expect(() => parseKeyFile(`[{name: x, sha256: ${'b'.repeat(64)}, requests_per_minute: 0}]`, 'k')).toThrow(
      'requests_per_minute must be a positive integer, got 0',
    );
    const dup = `[{name: x, sha256: ${'c'.repeat(64)}}, {name: y, sha256: ${'C'.repeat(64)}}]`;
    let message = '';
    try {
      parseKeyFile(dup, 'k');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('k: entry 1 (y) repeats the sha256 of an earlier entry');
  });

  it('a bare model name allows every version; name@version only that version', () => {
    expect(modelAllowed(['tinyllama'], 'tinyllama')).toBe(true);
    expect(modelAllowed(['tinyllama'], 'tinyllama@1')).toBe(true);
    expect(modelAllowed(['tinyllama@1'], 'tinyllama@1')).toBe(true);
    expect(modelAllowed(['tinyllama@1'], 'tinyllama')).toBe(false);
    expect(modelAllowed(['tinyllama@1'], 'tinyllama@2')).toBe(false);
    expect(modelAllowed(['tiny'], 'tinyllama')).toBe(false);
  });

  it('config: file, redis or none, with errors naming the variables', () => {
    expect(loadConfig({}).apiKeys).toEqual({ source: 'none' });
    expect(loadConfig({ GATEWAY_API_KEYS_FILE: '/etc/keys.yaml' }).apiKeys).toEqual({ source: 'file', file: '/etc/keys.yaml' });
    expect(loadConfig({ GATEWAY_API_KEYS: 'redis', REDIS_URL: 'redis://r:6379' }).apiKeys).toEqual({ source: 'redis' });
    expect(() => loadConfig({ GATEWAY_API_KEYS: 'redis' })).toThrow('GATEWAY_API_KEYS=redis needs REDIS_URL');
    expect(() => loadConfig({ GATEWAY_API_KEYS: 'file' })).toThrow('GATEWAY_API_KEYS=file needs GATEWAY_API_KEYS_FILE');
    expect(() => loadConfig({ GATEWAY_API_KEYS: 'ldap' })).toThrow('GATEWAY_API_KEYS must be one of none, file, redis, got "ldap"');
    expect(() => loadConfig({ GATEWAY_API_KEYS: 'redis', REDIS_URL: 'redis://r', GATEWAY_API_KEYS_FILE: '/k' })).toThrow(
      'GATEWAY_API_KEYS_FILE is set ("/k") but GATEWAY_API_KEYS=redis',
    );
  });

  it('startAuth fails fast naming GATEWAY_API_KEYS_FILE when the file is missing or invalid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keys-'));
    try {
      const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => logger };
      await expect(startAuth({ source: 'file', file: join(dir, 'nope.yaml') }, logger)).rejects.toThrow(
        `GATEWAY_API_KEYS_FILE (${join(dir, 'nope.yaml')}): cannot read it (ENOENT)`,
      );
      await writeFile(join(dir, 'bad.yaml'), '- name: x\n  sha256: [\n');
      await expect(startAuth({ source: 'file', file: join(dir, 'bad.yaml') }, logger)).rejects.toThrow('not valid YAML or JSON');
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe('API keys over REST, gRPC and Connect (keys from a file)', () => {
  let dir: string;
  let server: ServerHandle;
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let sessions: Http2SessionManager;
  let grpc: Client<typeof InferenceService>;
  const admitted: Caller[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keys-'));
    await writeFile(join(dir, 'keys.yaml'), KEY_FILE);
    const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => logger };
    const auth = await startAuth({ source: 'file', file: join(dir, 'keys.yaml') }, logger);
    mesh = await inMemoryMesh();
    // A limiter that admits everything and records who asked: the rate-limit engine's view.
    const limiter: RateLimiter = { admitRequest: async (c) => void admitted.push(c), admitTokens: async () => {}, charge: () => {} };
    const upstreams = { ...mesh.upstreams, limiter };
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      http1Port: 0,
      routes: (r) => r.service(InferenceService, inferenceService(upstreams)),
      interceptors: [authInterceptor(auth)],
      http: restApi({ upstreams, feedback: fakeFeedback(), bodyLimitBytes: 4096, auth }),
      metrics: createMetrics('gateway-auth-test'),
    });
    sessions = new Http2SessionManager(server.url);
    grpc = createClient(InferenceService, createGrpcTransport({ baseUrl: server.url, sessionManager: sessions }));
  });
  afterAll(async () => {
    sessions.abort();
    await server.close();
    await mesh.close();
    await rm(dir, { recursive: true });
  });

  const generate = (headers: Record<string, string>, body: Record<string, unknown> = {}) =>
    fetch(`${server.http1Url}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ prompt: 'Hello', max_tokens: 2, temperature: 0, ...body }),
    });

  it.each([
    ['no key', {}, 'missing_api_key', 'missing API key: send it as "Authorization: Bearer <key>" or "x-api-key: <key>"'],
    ['a wrong bearer key', { authorization: `Bearer ${WRONG}` }, 'invalid_api_key', 'invalid API key'],
    ['a wrong x-api-key', { 'x-api-key': WRONG }, 'invalid_api_key', 'invalid API key'],
    ['Basic instead of Bearer', { authorization: `Basic ${ALPHA}` }, 'invalid_api_key', 'invalid API key: the Authorization header must be "Bearer <key>"'],
  ])('REST with %s → 401, WWW-Authenticate: Bearer, an OpenAI error body; no worker call', async (_, headers, code, message) => {
    const before = mesh.workerCalls();
    const res = await generate(headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await res.json()).toEqual({ error: { message, type: 'authentication_error', param: null, code } });
    expect(mesh.workerCalls()).toBe(before);
  });

  it('REST with a key whose models exclude the request → 403 model_not_allowed naming model', async () => {
    const before = mesh.workerCalls();
    const res = await generate({ authorization: `Bearer ${BETA}` }, { model: 'tinyllama' });
    expect(res.status).toBe(403);
    const { error } = (await res.json()) as ErrorBody;
    expect(error).toEqual({
      message: 'model: API key "beta" may not use "tinyllama" (allowed: other-model, tinyllama@7)',
      type: 'permission_error',
      param: 'model',
      code: 'model_not_allowed',
    });
    // Also when the model is the default one (the request names none).
    expect((await generate({ 'x-api-key': BETA })).status).toBe(403);
    expect(mesh.workerCalls()).toBe(before);
  });

  it('REST with a valid key (Bearer or x-api-key) generates; the caller carries the key name and limits', async () => {
    admitted.length = 0;
    const res = await generate({ authorization: `Bearer ${ALPHA}` });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ usage: { completion_tokens: 2 } });
    expect((await generate({ 'x-api-key': ALPHA })).status).toBe(200);
    expect(admitted).toEqual([
      { keyName: 'alpha', subject: 'key:alpha', limits: { requestsPerMinute: 60, tokensPerMinute: 10000 } },
      { keyName: 'alpha', subject: 'key:alpha', limits: { requestsPerMinute: 60, tokensPerMinute: 10000 } },
    ]);
    // /v1/completions and /v1/models go through the same dispatcher.
    expect((await fetch(`${server.http1Url}/v1/models`)).status).toBe(401);
    const ids = async (key: string) =>
      ((await (await fetch(`${server.http1Url}/v1/models`, { headers: { 'x-api-key': key } })).json()) as { data: { id: string }[] }).data.map((m) => m.id);
    // alpha may use every model; beta only models the pool lacks, so it sees none of them.
    expect(await ids(ALPHA)).toEqual(expect.arrayContaining(['tinyllama', 'tinyllama@1']));
    expect(await ids(BETA)).toEqual([]);
    // GET /v1/models/{model} shows each key what its list shows: beta gets 404s, as for an unknown model.
    const retrieve = async (key: string, id: string) => (await fetch(`${server.http1Url}/v1/models/${id}`, { headers: { 'x-api-key': key } })).status;
    expect([await retrieve(ALPHA, 'tinyllama'), await retrieve(ALPHA, 'tinyllama@1')]).toEqual([200, 200]);
    expect([await retrieve(BETA, 'tinyllama'), await retrieve(BETA, 'tinyllama@1'), await retrieve(BETA, 'tinyllama@7')]).toEqual([404, 404, 404]);
    expect((await fetch(`${server.http1Url}/v1/models/tinyllama`)).status).toBe(401);
  });

  it('/health, /ready and /metrics stay open', async () => {
    for (const path of ['/health', '/ready', '/metrics']) expect((await fetch(`${server.http1Url}${path}`)).status).toBe(200);
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.url, sessionManager: sessions }));
    expect((await health.check({ service: '' })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  const rpcError = async (p: Promise<unknown>): Promise<ConnectError> => {
    try {
      await p;
    } catch (err) {
      return ConnectError.from(err);
    }
    throw new Error('expected the call to fail');
  };

  it('gRPC: no key or a wrong key → UNAUTHENTICATED, an unlisted model → PERMISSION_DENIED, a valid key works', async () => {
    const missing = await rpcError(grpc.predict({ prompt: 'Hello', sampling: { maxTokens: 2, temperature: 0 } }));
    expect(missing.code).toBe(Code.Unauthenticated);
    expect(missing.rawMessage).toContain('missing API key');
    const wrong = await rpcError(grpc.predict({ prompt: 'Hello' }, { headers: { authorization: `Bearer ${WRONG}` } }));
    expect([wrong.code, wrong.rawMessage]).toEqual([Code.Unauthenticated, 'invalid API key']);
    const forbidden = await rpcError(grpc.predict({ prompt: 'Hello', model: 'tinyllama@1' }, { headers: { 'x-api-key': BETA } }));
    expect([forbidden.code, forbidden.rawMessage]).toEqual([
      Code.PermissionDenied,
      'model: API key "beta" may not use "tinyllama@1" (allowed: other-model, tinyllama@7)',
    ]);
    const stream = async () => {
      for await (const _ of grpc.streamPredict({ prompt: 'Hello' }, { headers: { 'x-api-key': WRONG } })) void _;
    };
    expect((await rpcError(stream())).code).toBe(Code.Unauthenticated);
    const ok = await grpc.predict({ prompt: 'Hello', sampling: { maxTokens: 2, temperature: 0 } }, { headers: { authorization: `Bearer ${ALPHA}` } });
    expect(ok.usage?.completionTokens).toBe(2);
  });

  it('Connect over HTTP/1.1 (browsers, curl) takes the key from the same headers', async () => {
    const connect = createClient(InferenceService, createConnectTransport({ baseUrl: server.http1Url!, httpVersion: '1.1' }));
    expect((await rpcError(connect.listModels({}))).code).toBe(Code.Unauthenticated);
    expect((await rpcError(connect.listModels({}, { headers: { 'x-api-key': WRONG } }))).code).toBe(Code.Unauthenticated);
    expect((await connect.listModels({}, { headers: { 'x-api-key': ALPHA } })).models.map((m) => m.name)).toEqual(['tinyllama']);
    // As GET /v1/models: beta may use only models the pool lacks, so it sees none.
    expect((await connect.listModels({}, { headers: { 'x-api-key': BETA } })).models).toEqual([]);
    // Connect's unary protocol over plain fetch: HTTP 401 with WWW-Authenticate.
    const res = await fetch(`${server.http1Url}/${InferenceService.typeName}/ListModels`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
  });
});

describe('API keys from Redis (hash tokenmesh:apikeys)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let raw: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  afterAll(async () => {
    raw.disconnect();
    await redis.stop();
  });

  it('authenticates keys stored by digest, applies their models and limits, sees revocations after the refresh', async () => {
    await raw.hset('tokenmesh:apikeys', sha256Hex(ALPHA), JSON.stringify({ name: 'alpha', models: ['tinyllama'], tokens_per_minute: 500 }));
    await raw.hset('tokenmesh:apikeys', 'f'.repeat(64), '{not json');
    const store = await RedisStore.connect(redis.url);
    const warnings: string[] = [];
    const logger = { debug: () => {}, info: () => {}, warn: (m: string) => void warnings.push(m), error: () => {}, child: () => logger };
    const auth = new ApiKeyAuth(redisKeySource(store, { refreshMs: 100, logger, ownsStore: true }));
    try {
      const header = (h: Record<string, string>) => (name: string) => h[name];
      expect(await auth.authenticate(header({ 'x-api-key': ALPHA }), '10.0.0.1')).toEqual({
        caller: { keyName: 'alpha', subject: 'key:alpha', allowedModels: ['tinyllama'], limits: { tokensPerMinute: 500 } },
      });
      expect(warnings).toEqual(['ignoring an invalid API key record in Redis']);
      expect((await auth.authenticate(header({ 'x-api-key': WRONG }), '10.0.0.1')).failure?.code).toBe('invalid_api_key');
      expect((await auth.authenticate(header({}), '10.0.0.1')).failure?.code).toBe('missing_api_key');
      await raw.hdel('tokenmesh:apikeys', sha256Hex(ALPHA));
      // Answered from the stale copy while the refresh runs; refused once it lands.
      await waitFor(async () => (await auth.authenticate(header({ authorization: `Bearer ${ALPHA}` }), '10.0.0.1')).failure?.code === 'invalid_api_key', {
        timeoutMs: 2000,
      });
    } finally {
      await auth.close();
    }
  });

  it('a gateway process with GATEWAY_API_KEYS=redis answers 401 / 403 / (authenticated) per key', async () => {
    await raw.hset('tokenmesh:apikeys', sha256Hex(BETA), JSON.stringify({ name: 'beta', models: ['other-model'] }));
    const gw = await startGateway({ GATEWAY_API_KEYS: 'redis', REDIS_URL: redis.url });
    try {
      expect((await post(gw, {})).status).toBe(401);
      expect((await post(gw, { 'x-api-key': WRONG })).status).toBe(401);
      const res = await post(gw, { 'x-api-key': BETA }, { model: 'tinyllama' });
      expect(res.status).toBe(403);
      expect(((await res.json()) as ErrorBody).error.code).toBe('model_not_allowed');
    } finally {
      await gw.stop();
    }
  });
});

/** A gateway process whose upstreams are absent (authentication happens before any of them is called), logging everything. */
const startGateway = (env: Record<string, string>) => gatewayWithoutUpstreams({ LOG_LEVEL: 'debug', ...env });

const post = (gw: ServiceProcess, headers: Record<string, string>, body: Record<string, unknown> = {}) =>
  fetch(`${gw.httpUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ prompt: 'Hello', max_tokens: 2, ...body }),
  });

describe('a gateway process with GATEWAY_API_KEYS_FILE', () => {
  it('refuses missing and wrong keys over REST and gRPC and never logs a key or its digest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keys-'));
    await writeFile(join(dir, 'keys.json'), JSON.stringify(parseKeyFile(KEY_FILE, 'k').map((r) => ({ name: r.name, sha256: r.sha256, models: r.models }))));
    const gw = await startGateway({ GATEWAY_API_KEYS_FILE: join(dir, 'keys.json') });
    const sessions = new Http2SessionManager(gw.url);
    try {
      expect((await post(gw, {})).status).toBe(401);
      expect((await post(gw, { authorization: `Bearer ${WRONG}` })).status).toBe(401);
      expect((await post(gw, { authorization: `Bearer ${BETA}` }, { model: 'tinyllama' })).status).toBe(403);
      // Authenticated, then the (absent) tokenizer fails: past authentication, not a 401.
      expect((await post(gw, { authorization: `Bearer ${ALPHA}` })).status).toBe(503);
      const grpc = createClient(InferenceService, createGrpcTransport({ baseUrl: gw.url, sessionManager: sessions }));
      await expect(grpc.predict({ prompt: 'x' }, { headers: { 'x-api-key': WRONG } })).rejects.toMatchObject({ code: Code.Unauthenticated });
      await expect(grpc.predict({ prompt: 'x', model: 'm' }, { headers: { 'x-api-key': BETA } })).rejects.toMatchObject({ code: Code.PermissionDenied });
      await expect(grpc.predict({ prompt: 'x' }, { headers: { 'x-api-key': ALPHA } })).rejects.toMatchObject({ code: Code.Unavailable });
    } finally {
      sessions.abort();
      await gw.stop();
      await rm(dir, { recursive: true });
    }
    const out = gw.output();
    expect(out).toContain('"API keys required"');
    for (const secret of [ALPHA, BETA, WRONG]) {
      expect(out).not.toContain(secret);
      expect(out.toLowerCase()).not.toContain(sha256Hex(secret));
    }
  });
});
