import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { InferenceService } from '@tokenmesh/proto';
import { type ServerHandle, startServer } from '@tokenmesh/server';

import { loadConfig } from '../../src/config';
import { CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS, corsHandler } from '../../src/edge/cors';
import { gatewayWithoutUpstreams } from '../fakes';

const APP = 'https://app.example.com';
const LOCAL = 'http://localhost:5173';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw HTTP/1.1 request (fetch will not send `Origin: null` or let a test set Origin freely). */
function send(base: string, method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const preflight = (base: string, path: string, origin: string) =>
  send(base, 'OPTIONS', path, {
    origin,
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'content-type, connect-protocol-version, authorization',
  });

const corsHeaders = (a: Answer) => Object.keys(a.headers).filter((h) => h.startsWith('access-control-'));
const list = (v: string | string[] | undefined) =>
  String(v ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase());

const CONNECT_PATH = `/${InferenceService.typeName}/ListModels`;

describe('GATEWAY_CORS_ORIGINS', () => {
  it('takes exact origins only, naming the variable and the bad entry', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ GATEWAY_CORS_ORIGINS: `${APP}, ${LOCAL}` }).corsOrigins).toEqual([APP, LOCAL]);
    for (const bad of ['*', 'null', `${APP}/`, `${APP}/app`, 'app.example.com', 'ftp://files.example.com']) {
      expect(() => loadConfig({ GATEWAY_CORS_ORIGINS: bad })).toThrow(
        `GATEWAY_CORS_ORIGINS must list exact origins such as https://app.example.com (scheme://host[:port], no path, no wildcard), got ${JSON.stringify(bad)}`,
      );
    }
  });

  it('an empty list adds no CORS handling at all', () => {
    expect(corsHandler([])).toBeUndefined();
  });
});

describe('CORS on the HTTP/1.1 listener (REST, Connect, gRPC-Web)', () => {
  let server: ServerHandle;
  let base: string;

  beforeAll(async () => {
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      http1Port: 0,
      routes: (r) => r.service(InferenceService, { listModels: () => ({ models: [{ name: 'tinyllama', versions: ['1'] }] }) }),
      http: (_req, res) => {
        res.writeHead(404, { 'content-type': 'application/json', 'x-request-id': 'r1' });
        res.end('{"error":{"message":"no route","type":"invalid_request_error","param":null,"code":"not_found"}}');
      },
      preHandler: corsHandler([APP, LOCAL]),
    });
    base = server.http1Url!;
  });
  afterAll(() => server.close());

  it.each([CONNECT_PATH, '/v1/completions', '/generate'])(
    'a preflight from an allowed origin to %s → 204 with the methods and headers Connect, gRPC-Web and REST send',
    async (path) => {
      const a = await preflight(base, path, APP);
      expect(a.status).toBe(204);
      expect(a.headers['access-control-allow-origin']).toBe(APP);
      expect(list(a.headers['access-control-allow-methods'])).toEqual(expect.arrayContaining(['get', 'post']));
      expect(list(a.headers['access-control-allow-headers'])).toEqual(expect.arrayContaining([...CORS_ALLOWED_HEADERS]));
      expect(list(a.headers['access-control-allow-headers'])).toEqual(
        expect.arrayContaining([
          'connect-protocol-version',
          'connect-timeout-ms',
          'content-type',
          'x-grpc-web',
          'x-user-agent',
          'grpc-timeout',
          'authorization',
          'x-api-key',
          'x-request-id',
        ]),
      );
      expect(a.headers['access-control-max-age']).toBeDefined();
      expect(a.headers['vary']).toBe('Origin');
      expect(a.body.length).toBe(0);
    },
  );

  it.each([
    ['another origin', 'https://evil.example.com'],
    ['a look-alike', 'https://app.example.com.evil.net'],
    ['the null origin', 'null'],
    ['an allowed host on another scheme', 'http://app.example.com'],
  ])('a preflight from %s gets no CORS headers (never reflected, never null)', async (_, origin) => {
    const a = await preflight(base, CONNECT_PATH, origin);
    expect(corsHeaders(a)).toEqual([]);
    expect(a.headers['vary']).toBe('Origin');
  });

  // What a browser app using OpenTelemetry web instrumentation and the openai SDK asks for.
  const browserSdkPreflight = (origin: string) =>
    send(base, 'OPTIONS', '/v1/chat/completions', {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type, traceparent, tracestate, x-stainless-os, x-stainless-retry-count',
    });

  it('a preflight asking for trace context and x-stainless-* headers from an allowed origin allows them all', async () => {
    const a = await browserSdkPreflight(APP);
    expect([a.status, a.headers['access-control-allow-origin']]).toEqual([204, APP]);
    expect(list(a.headers['access-control-allow-headers'])).toEqual(
      expect.arrayContaining(['authorization', 'content-type', 'traceparent', 'tracestate', 'baggage', 'x-stainless-os', 'x-stainless-retry-count']),
    );
  });

  it('x-stainless-* headers are allowed by prefix (names the SDK adds later too), other unknown headers are not', async () => {
    const a = await send(base, 'OPTIONS', '/v1/models', {
      origin: LOCAL,
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'X-Stainless-Package-Version,x-stainless-helper-method , x-custom-thing',
    });
    const allowedHeaders = list(a.headers['access-control-allow-headers']);
    expect(allowedHeaders).toEqual(expect.arrayContaining(['x-stainless-package-version', 'x-stainless-helper-method']));
    expect(allowedHeaders).not.toContain('x-custom-thing');
  });

  it('a preflight asking for trace context and x-stainless-* headers from another origin is still refused', async () => {
    const a = await browserSdkPreflight('https://evil.example.com');
    expect(a.status).toBe(204);
    expect(corsHeaders(a)).toEqual([]);
    expect(a.headers['vary']).toBe('Origin');
  });

  it('a Connect call from an allowed origin gets Allow-Origin and the exposed headers', async () => {
    const a = await send(base, 'POST', CONNECT_PATH, { origin: LOCAL, 'content-type': 'application/json', 'connect-protocol-version': '1' }, '{}');
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body.toString())).toEqual({ models: [{ name: 'tinyllama', versions: ['1'] }] });
    expect(a.headers['access-control-allow-origin']).toBe(LOCAL);
    expect(list(a.headers['access-control-expose-headers'])).toEqual([...CORS_EXPOSED_HEADERS]);
    expect(list(a.headers['access-control-expose-headers'])).toEqual(
      expect.arrayContaining([
        'grpc-status',
        'grpc-message',
        'grpc-status-details-bin',
        'x-request-id',
        'x-tokenmesh-cache',
        'x-tokenmesh-variant',
        'retry-after',
        'x-ratelimit-remaining-tokens',
      ]),
    );
    expect(a.headers['vary']).toBe('Origin');
  });

  it('a gRPC-Web call from an allowed origin gets the CORS headers; from another origin none', async () => {
    const frame = Buffer.from([0, 0, 0, 0, 0]); // one empty ListModelsRequest message
    const headers = { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' };
    const ok = await send(base, 'POST', CONNECT_PATH, { ...headers, origin: APP }, frame);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('application/grpc-web+proto');
    expect(ok.headers['access-control-allow-origin']).toBe(APP);
    expect(list(ok.headers['access-control-expose-headers'])).toContain('grpc-status');
    const other = await send(base, 'POST', CONNECT_PATH, { ...headers, origin: 'https://evil.example.com' }, frame);
    expect(other.status).toBe(200);
    expect(corsHeaders(other)).toEqual([]);
    expect(other.headers['vary']).toBe('Origin');
  });

  it('REST answers (errors too) carry the headers for an allowed origin only; Origin: null gets none', async () => {
    const ok = await send(base, 'POST', '/v1/nope', { origin: APP });
    expect([ok.status, ok.headers['access-control-allow-origin'], ok.headers['vary']]).toEqual([404, APP, 'Origin']);
    const none = await send(base, 'POST', '/v1/nope', { origin: 'null' });
    expect(corsHeaders(none)).toEqual([]);
    const noOrigin = await send(base, 'GET', '/health', {});
    expect([noOrigin.status, corsHeaders(noOrigin)]).toEqual([200, []]);
  });
});

describe('a gateway process with GATEWAY_CORS_ORIGINS and API keys', () => {
  it('answers preflights without a key, and puts CORS headers on its 401s so browser code can read them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cors-'));
    await writeFile(join(dir, 'keys.yaml'), `- name: web\n  sha256: ${'a'.repeat(64)}\n`);
    const gw = await gatewayWithoutUpstreams({
      GATEWAY_CORS_ORIGINS: `${APP},${LOCAL}`,
      GATEWAY_API_KEYS_FILE: join(dir, 'keys.yaml'),
    });
    try {
      for (const path of ['/v1/completions', CONNECT_PATH]) {
        const pre = await preflight(gw.httpUrl, path, APP);
        expect([pre.status, pre.headers['access-control-allow-origin']]).toEqual([204, APP]);
      }
      const rest = await send(gw.httpUrl, 'POST', '/v1/completions', { origin: LOCAL, 'content-type': 'application/json' }, '{"prompt":"x"}');
      expect([rest.status, rest.headers['access-control-allow-origin'], rest.headers['www-authenticate']]).toEqual([401, LOCAL, 'Bearer']);
      const connect = await send(gw.httpUrl, 'POST', CONNECT_PATH, { origin: APP, 'content-type': 'application/json' }, '{}');
      expect([connect.status, connect.headers['access-control-allow-origin']]).toEqual([401, APP]);
      const other = await send(gw.httpUrl, 'POST', CONNECT_PATH, { origin: 'https://evil.example.com', 'content-type': 'application/json' }, '{}');
      expect([other.status, corsHeaders(other)]).toEqual([401, []]);
    } finally {
      await gw.stop();
      await rm(dir, { recursive: true });
    }
  });
});
