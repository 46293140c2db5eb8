import { gzipSync } from 'node:zlib';

import { type OtlpReceiver, startOtlpReceiver } from '../src/otlp-receiver';

const TRACE = '5b8efff798038103d269b633813fc60c';

/** An OTLP/JSON export request shaped as the OpenTelemetry JS exporter sends it. */
function exportRequest(service: string, spans: object[]): object {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [{ scope: { name: '@tokenmesh/telemetry' }, spans }],
      },
    ],
  };
}

function span(name: string, spanId: string, parentSpanId: string | undefined, extra: object = {}): object {
  return {
    traceId: TRACE,
    spanId,
    ...(parentSpanId ? { parentSpanId } : {}),
    name,
    kind: 2,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000250000000',
    attributes: [],
    status: { code: 0 },
    ...extra,
  };
}

function post(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

let receiver: OtlpReceiver;
beforeEach(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(() => receiver.stop());

describe('startOtlpReceiver', () => {
  it('stores spans with their service, parent, kind, attributes and status', async () => {
    const attributes = [
      { key: 'rpc.method', value: { stringValue: 'Generate' } },
      { key: 'gen_ai.usage.input_tokens', value: { intValue: '12' } },
      { key: 'tokenmesh.cached', value: { boolValue: true } },
      { key: 'gen_ai.response.finish_reasons', value: { arrayValue: { values: [{ stringValue: 'stop' }] } } },
    ];
    const res = await post(
      receiver.url,
      JSON.stringify(
        exportRequest('router', [
          span('route', 'eee19b7ec3c1b174', undefined, { kind: 1 }),
          span('Generate', 'eee19b7ec3c1b175', 'eee19b7ec3c1b174', { attributes, status: { code: 2, message: 'boom' } }),
        ]),
      ),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});

    const [root, child] = receiver.spans();
    expect(root).toMatchObject({ name: 'route', kind: 'internal', serviceName: 'router', parentSpanId: undefined });
    expect(child).toMatchObject({
      traceId: TRACE,
      spanId: 'eee19b7ec3c1b175',
      parentSpanId: 'eee19b7ec3c1b174',
      kind: 'server',
      scope: '@tokenmesh/telemetry',
      attributes: {
        'rpc.method': 'Generate',
        'gen_ai.usage.input_tokens': 12,
        'tokenmesh.cached': true,
        'gen_ai.response.finish_reasons': ['stop'],
      },
      status: { code: 'error', message: 'boom' },
      startMs: 1_700_000_000_000,
      endMs: 1_700_000_000_250,
    });
  });

  it('accepts gzip bodies, enum names and base64 ids', async () => {
    const b64Trace = Buffer.from(TRACE, 'hex').toString('base64');
    const body = exportRequest('gateway', [
      span('call', 'eee19b7ec3c1b174', undefined, { traceId: b64Trace, kind: 'SPAN_KIND_CLIENT', status: { code: 'STATUS_CODE_OK' } }),
    ]);
    const res = await post(receiver.url, gzipSync(JSON.stringify(body)), { 'content-encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(receiver.spans()).toMatchObject([{ traceId: TRACE, kind: 'client', status: { code: 'ok' } }]);
  });

  it('waits for spans that arrive later, and forgets them on clear()', async () => {
    const waiting = receiver.waitFor((all) => all.some((s) => s.serviceName === 'inference'), 5000);
    await post(receiver.url, JSON.stringify(exportRequest('router', [span('a', '0000000000000001', undefined)])));
    await post(receiver.url, JSON.stringify(exportRequest('inference', [span('b', '0000000000000002', '0000000000000001')])));
    expect((await waiting).map((s) => s.serviceName)).toEqual(['router', 'inference']);
    receiver.clear();
    expect(receiver.spans()).toEqual([]);
  });

  it('says what it received when a wait times out, and fails waits on stop', async () => {
    await post(receiver.url, JSON.stringify(exportRequest('router', [span('route', '0000000000000001', undefined)])));
    await expect(receiver.waitFor(() => false, 50)).rejects.toThrow('1 spans received: router:route');
    const pending = receiver.waitFor(() => false, 5000);
    await receiver.stop();
    await expect(pending).rejects.toThrow('stopped');
  });

  it('refuses protobuf bodies and other paths instead of dropping them silently', async () => {
    expect((await post(receiver.url, Buffer.from([0x0a]), { 'content-type': 'application/x-protobuf' })).status).toBe(415);
    expect((await fetch(`${receiver.url}/v1/metrics`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await post(receiver.url, '{not json')).status).toBe(400);
    expect(receiver.spans()).toEqual([]);
  });
});
