import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { context, trace } from '@opentelemetry/api';
import { type OtlpReceiver, startOtlpReceiver } from '@tokenmesh/testing';

import { initTelemetry, injectContext, spanProcessorsFromEnv, tracer } from '../src';

const OTEL_VARS = [
  'OTEL_SDK_DISABLED',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_TRACES_EXPORTER',
  'OTEL_METRICS_EXPORTER',
  'OTEL_LOGS_EXPORTER',
  'OTEL_SERVICE_NAME',
];
let receiver: OtlpReceiver;

/** Runs a fixture as its own process, as a service runs. */
function run(fixture: string, env: Record<string, string>) {
  const root = resolve(__dirname, '../../..');
  return promisify(execFile)(join(root, 'node_modules/.bin/tsx'), [join(__dirname, 'fixtures', fixture)], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
}

beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver.stop());
beforeEach(() => {
  for (const name of OTEL_VARS) delete process.env[name];
  receiver.clear();
});

describe('initTelemetry', () => {
  it('exports each service under its own name, and shutdown flushes promptly', async () => {
    const { stdout } = await run('export-spans.ts', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    // The batch delay is 5 s: only the flush on shutdown delivers this fast. Metrics and logs
    // exporters stay off, so nothing else holds shutdown up.
    expect((JSON.parse(stdout) as { shutdownMs: number }).shutdownMs).toBeLessThan(2000);

    const got = receiver.spans();
    const byName = Object.fromEntries(got.map((s) => [s.name, s]));
    expect(got.map((s) => [s.name, s.serviceName]).sort()).toEqual([
      ['decode', 'inference'],
      ['request', 'tokenmesh'],
      ['route', 'router'],
    ]);
    expect(new Set(got.map((s) => s.traceId)).size).toBe(1);
    expect(byName['route']?.parentSpanId).toBe(byName['request']?.spanId);
    expect(byName['decode']?.parentSpanId).toBe(byName['route']?.spanId);
  });

  it('does not fail or hang a service shutdown when the collector is down', async () => {
    const closed = await startOtlpReceiver();
    await closed.stop();
    const { stdout, stderr } = await run('export-spans.ts', {
      OTEL_EXPORTER_OTLP_ENDPOINT: closed.url,
      OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
    });
    expect((JSON.parse(stdout) as { shutdownMs: number }).shutdownMs).toBeLessThan(2000);
    expect(stderr).toContain('TelemetryWarning: telemetry flush failed');
  });

  it('returns the first handle to a second caller in the same process', async () => {
    const telemetry = initTelemetry({ serviceName: 'tokenmesh', instrumentations: false });
    expect(initTelemetry({ serviceName: 'other' })).toBe(telemetry);
    expect(telemetry.serviceName).toBe('tokenmesh');
    await telemetry.shutdown();
  });

  it('records and propagates spans without an OTLP endpoint, and exports nothing', async () => {
    expect(spanProcessorsFromEnv({})).toEqual([]);
    expect(spanProcessorsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_EXPORTER: 'none' })).toEqual([]);
    expect(spanProcessorsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })).toHaveLength(1);

    const telemetry = initTelemetry({ serviceName: 'gateway', instrumentations: false });
    const span = tracer('gateway').startSpan('request');
    const headers = injectContext({}, trace.setSpan(context.active(), span));
    span.end();
    expect(span.isRecording()).toBe(false); // ended
    expect(headers['traceparent']).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
    await telemetry.shutdown();
    expect(receiver.spans()).toEqual([]);
  });

  it('is a no-op with OTEL_SDK_DISABLED=true, even with an endpoint', async () => {
    process.env['OTEL_SDK_DISABLED'] = 'true';
    process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = receiver.url;
    const telemetry = initTelemetry({ serviceName: 'gateway' });
    const span = tracer('router').startSpan('request');
    expect(span.isRecording()).toBe(false);
    expect(injectContext({}, trace.setSpan(context.active(), span))).toEqual({});
    span.end();
    await telemetry.shutdown();
    expect(receiver.spans()).toEqual([]);
  });

  it('can start again after shutdown, and its shutdown is idempotent', async () => {
    const first = initTelemetry({ serviceName: 'a', instrumentations: false });
    await Promise.all([first.shutdown(), first.shutdown()]);
    const second = initTelemetry({ serviceName: 'b', instrumentations: false });
    expect(second).not.toBe(first);
    expect(tracer('b').startSpan('x').isRecording()).toBe(true);
    await second.shutdown();
  });
});
