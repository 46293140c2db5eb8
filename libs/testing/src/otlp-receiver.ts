import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** One span as an OTLP receiver (Jaeger, a collector) would store it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Undefined for a trace's root span. */
  parentSpanId: string | undefined;
  name: string;
  kind: 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
  /** The exporting resource's `service.name`. */
  serviceName: string;
  /** Instrumentation scope name. */
  scope: string;
  attributes: Record<string, unknown>;
  status: { code: 'unset' | 'ok' | 'error'; message?: string };
  links: { traceId: string; spanId: string }[];
  /** Milliseconds since the epoch, to the microsecond. */
  startMs: number;
  endMs: number;
}

/** A running receiver; see `startOtlpReceiver`. */
export interface OtlpReceiver {
  /** Base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  readonly url: string;
  /** Every span received so far, in arrival order. */
  spans(): ReceivedSpan[];
  /** Resolves with all spans once `predicate` holds; rejects after `timeoutMs` listing what came. */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  /** Forgets the spans received so far. */
  clear(): void;
  stop(): Promise<void>;
}

type AnyValue = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number | string;
  bytesValue?: string;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
};
type KeyValue = { key: string; value?: AnyValue };
type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number | string;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: KeyValue[];
  status?: { code?: number | string; message?: string };
  links?: { traceId: string; spanId: string }[];
};
type ExportRequest = {
  resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { scope?: { name?: string }; spans?: OtlpSpan[] }[] }[];
};

const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
const STATUS = ['unset', 'ok', 'error'] as const;

/** Enum fields arrive as numbers, or as names (`SPAN_KIND_SERVER`) from some exporters. */
function enumValue<T extends string>(names: readonly T[], v: number | string | undefined): T {
  const s = typeof v === 'string' ? v.toLowerCase().replace(/^(span_kind|status_code)_/, '') : undefined;
  return names.find((n) => n === s) ?? names[typeof v === 'number' ? v : 0] ?? names[0]!;
}

/** OTLP/JSON ids are hex; tolerate base64 from exporters that follow protobuf's JSON mapping. */
function hexId(id: string | undefined): string | undefined {
  if (!id) return undefined;
  return /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');
}

/** Nanoseconds (a decimal string, or a number from lenient exporters) to milliseconds, µs-exact. */
function nanosToMs(v: string | number): number {
  return typeof v === 'number' ? v / 1e6 : Number(BigInt(v) / 1000n) / 1000;
}

function value(v: AnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(value);
  if (v.kvlistValue) return attributes(v.kvlistValue.values);
  return v.bytesValue;
}

function attributes(kvs: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((kvs ?? []).map((kv) => [kv.key, value(kv.value)]));
}

function parse(req: ExportRequest): ReceivedSpan[] {
  return (req.resourceSpans ?? []).flatMap((rs) => {
    const serviceName = String(attributes(rs.resource?.attributes)['service.name'] ?? '');
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => ({
        traceId: hexId(s.traceId) ?? '',
        spanId: hexId(s.spanId) ?? '',
        parentSpanId: hexId(s.parentSpanId),
        name: s.name,
        kind: enumValue(KINDS, s.kind),
        serviceName,
        scope: ss.scope?.name ?? '',
        attributes: attributes(s.attributes),
        status: { code: enumValue(STATUS, s.status?.code), ...(s.status?.message ? { message: s.status.message } : {}) },
        links: (s.links ?? []).map((l) => ({ traceId: hexId(l.traceId) ?? '', spanId: hexId(l.spanId) ?? '' })),
        startMs: nanosToMs(s.startTimeUnixNano),
        endMs: nanosToMs(s.endTimeUnixNano),
      })),
    );
  });
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
}

/**
 * Starts an OTLP/HTTP trace receiver on a free loopback port, standing in for Jaeger in tests:
 * POST /v1/traces with JSON bodies (optionally gzip), which is what @tokenmesh/telemetry's
 * exporter sends. Protobuf bodies are refused with 415 (no request decoder is installed).
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  let received: ReceivedSpan[] = [];
  const waiters = new Set<{ check: () => void; fail: (e: Error) => void }>();
  const server = createServer((req, res) => {
    const reply = (status: number, text: string) => res.writeHead(status, { 'content-type': status === 200 ? 'application/json' : 'text/plain' }).end(text);
    if (req.method !== 'POST' || req.url !== '/v1/traces') return void reply(404, 'only POST /v1/traces');
    if (!(req.headers['content-type'] ?? '').includes('json')) return void reply(415, 'OTLP/HTTP JSON only');
    body(req)
      .then((buf) => {
        received.push(...parse(JSON.parse(buf.toString('utf8')) as ExportRequest));
        for (const w of waiters) w.check();
        reply(200, '{}');
      })
      .catch((e: Error) => reply(400, e.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    clear: () => void (received = []),
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const done = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          fn();
        };
        const waiter = {
          check: () => predicate(received) && done(() => resolve([...received])),
          fail: (e: Error) => done(() => reject(e)),
        };
        const timer = setTimeout(() => {
          const names = received.map((s) => `${s.serviceName}:${s.name}`).join(', ');
          waiter.fail(new Error(`no match in ${timeoutMs} ms; ${received.length} spans received: ${names}`));
        }, timeoutMs);
        waiters.add(waiter);
        waiter.check();
      });
    },
    async stop() {
      for (const w of waiters) w.fail(new Error('OTLP receiver stopped'));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
