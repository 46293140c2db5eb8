import { basename, resolve } from 'node:path';

import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { FeedbackService, FinishReason, InferenceService } from '@tokenmesh/proto';
import {
  grpcJsChannel,
  grpcJsServerStream,
  grpcJsUnary,
  type OtlpReceiver,
  type ServerHandle,
  type ServiceProcess,
  startMeshProcesses,
  startNats,
  startOtlpReceiver,
  waitFor,
} from '@tokenmesh/testing';

const MODEL = resolve(__dirname, '../../models/tinygpt');

/**
 * All five services as separate processes on free ports (the gateway ready once the router's pool
 * serves the model), exporting traces to a receiver; with a NATS URL, gateway and feedback
 * exchange completion events over JetStream. The gateway first, feedback last.
 */
async function meshProcesses(otlp: OtlpReceiver, natsUrl?: string): Promise<ServiceProcess[]> {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '50', ...(natsUrl ? { NATS_URL: natsUrl } : {}) };
  const mesh = await startMeshProcesses({ model: MODEL, env });
  return [mesh.gateway, mesh.router, mesh.tokenizer, mesh.worker, mesh.feedback!];
}

describe('the mesh: five services in five processes', () => {
  let otlp: OtlpReceiver;
  let nats: ServerHandle;
  let procs: ServiceProcess[];
  let gateway: ServiceProcess;
  let channel: grpc.Client;

  beforeAll(async () => {
    [otlp, nats] = await Promise.all([startOtlpReceiver(), startNats({ jetstream: true })]);
    procs = await meshProcesses(otlp, nats.url);
    gateway = procs[0]!;
    channel = grpcJsChannel(gateway.url);
  }, 120_000);

  afterAll(async () => {
    channel?.close();
    const codes = await Promise.all((procs ?? []).map((p) => p.stop()));
    await otlp?.stop();
    await nats?.stop();
    // Each exits 0 after a graceful shutdown; otherwise its output says why.
    expect((procs ?? []).map((p, i) => (codes[i] === 0 ? 0 : p.output()))).toEqual([0, 0, 0, 0, 0]);
  }, 60_000);

  it('Predict and StreamPredict over gRPC (grpc-js), tokens arriving incrementally', async () => {
    const one = await grpcJsUnary(channel, InferenceService.method.predict, { prompt: 'In the beginning', sampling: { maxTokens: 32, temperature: 0 } });
    expect(one.finishReason).toBe(FinishReason.LENGTH);
    expect(one.usage?.completionTokens).toBe(32);
    expect(one.text.length).toBeGreaterThan(10);

    const arrivals: number[] = [];
    let text = '';
    for await (const m of grpcJsServerStream(channel, InferenceService.method.streamPredict, {
      prompt: 'In the beginning',
      sampling: { maxTokens: 32, temperature: 0 },
    })) {
      if (m.text) {
        text += m.text;
        arrivals.push(performance.now());
      }
    }
    expect(text).toBe(one.text);
    expect(arrivals.length).toBeGreaterThan(8);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(0);
  });

  it('Connect over HTTP/1.1: plain JSON Predict (as curl) and a streamed StreamPredict', async () => {
    const res = await fetch(`${gateway.httpUrl}/tokenmesh.inference.v1.InferenceService/Predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'In the beginning', sampling: { maxTokens: 16, temperature: 0 } }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { text: string; finishReason: string; model: string };
    expect(body).toMatchObject({ finishReason: 'FINISH_REASON_LENGTH', model: `${basename(MODEL)}@1` });

    const client = createClient(InferenceService, createConnectTransport({ baseUrl: gateway.httpUrl, httpVersion: '1.1' }));
    const parts: string[] = [];
    for await (const m of client.streamPredict({ prompt: 'In the beginning', sampling: { maxTokens: 16, temperature: 0 } })) if (m.text) parts.push(m.text);
    expect(parts.length).toBeGreaterThan(4);
    expect(parts.join('')).toBe(body.text);
  });

  it('REST: /generate, and /v1/completions streamed as SSE', async () => {
    const post = (path: string, body: unknown) =>
      fetch(gateway.httpUrl + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const gen = (await (await post('/generate', { prompt: 'In the beginning', max_tokens: 32 })).json()) as {
      text: string;
      usage: { completion_tokens: number };
    };
    expect(gen.usage.completion_tokens).toBeGreaterThan(0);

    // Sampled (not greedy): the greedy twin of this request was answered before and would be a
    // cache hit, replayed faster than the client reads.
    const res = await post('/v1/completions', { prompt: 'In the beginning', max_tokens: 16, temperature: 0.7, stream: true });
    const reader = res.body!.getReader();
    const reads: string[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) reads.push(Buffer.from(r.value).toString('utf8'));
    const events = reads.join('').split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events.length).toBeGreaterThan(5);
    expect(reads.length).toBeGreaterThan(1);
  });

  it('bad input over gRPC: INVALID_ARGUMENT naming the field, NOT_FOUND for the model', async () => {
    const cases: [object, grpc.status, string][] = [
      [{ prompt: '' }, grpc.status.INVALID_ARGUMENT, 'prompt:'],
      [{ prompt: 'x', sampling: { maxTokens: 0 } }, grpc.status.INVALID_ARGUMENT, 'sampling.max_tokens:'],
      [{ prompt: 'x', sampling: { maxTokens: 100000 } }, grpc.status.INVALID_ARGUMENT, 'sampling.max_tokens:'],
      [{ prompt: 'x', sampling: { temperature: -1 } }, grpc.status.INVALID_ARGUMENT, 'sampling.temperature:'],
      [{ prompt: 'x', sampling: { temperature: NaN } }, grpc.status.INVALID_ARGUMENT, 'sampling.temperature:'],
      [{ prompt: 'x', sampling: { topP: 0 } }, grpc.status.INVALID_ARGUMENT, 'sampling.top_p:'],
      [{ prompt: 'x', sampling: { topK: -1 } }, grpc.status.INVALID_ARGUMENT, 'sampling.top_k:'],
      [{ prompt: 'x', model: 'gpt-9' }, grpc.status.NOT_FOUND, 'model:'],
    ];
    for (const [req, code, field] of cases) {
      const err = (await grpcJsUnary(channel, InferenceService.method.predict, req).then(
        () => undefined,
        (e: unknown) => e,
      )) as grpc.ServiceError | undefined;
      expect([req, err?.code, err?.details.slice(0, field.length)]).toEqual([req, code, field]);
    }
  });

  it('one trace id covers gateway, tokenizer, router and inference spans of one StreamPredict', async () => {
    otlp.clear();
    for await (const _ of grpcJsServerStream(channel, InferenceService.method.streamPredict, { prompt: 'trace me', sampling: { maxTokens: 4 } })) void _;
    const services = ['gateway', 'tokenizer', 'router', 'inference'];
    const spans = await otlp.waitFor((all) => {
      const gw = all.find((s) => s.serviceName === 'gateway' && s.name.endsWith('InferenceService/StreamPredict') && s.kind === 'server');
      return gw !== undefined && services.every((svc) => all.some((s) => s.traceId === gw.traceId && s.serviceName === svc));
    }, 15_000);
    const root = spans.find((s) => s.serviceName === 'gateway' && s.name.endsWith('StreamPredict') && s.kind === 'server')!;
    const inTrace = spans.filter((s) => s.traceId === root.traceId);
    expect(new Set(inTrace.map((s) => s.serviceName))).toEqual(expect.objectContaining(new Set(services)));
    const worker = inTrace.find((s) => s.serviceName === 'inference' && s.name.endsWith('GenerationService/Generate') && s.kind === 'server');
    expect(worker).toBeDefined();
    // The router's server span says how it routed (w1 announced itself over NATS, replacing the static URL).
    const routed = inTrace.find((s) => s.serviceName === 'router' && s.name.endsWith('GenerationService/Generate') && s.kind === 'server');
    expect(routed?.attributes).toMatchObject({
      'tokenmesh.routing.strategy': 'p2c',
      'tokenmesh.worker_id': 'w1',
      'tokenmesh.variant': '',
      'tokenmesh.retries': 0,
    });

    // The gateway reads the router's stream off the connection (framed): its CLIENT span is the
    // router's parent, and it ended OK with the stream.
    const call = inTrace.find((s) => s.serviceName === 'gateway' && s.name.endsWith('GenerationService/Generate') && s.kind === 'client');
    expect(call?.attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.grpc.status_code': 0 });
    expect(routed?.parentSpanId).toBe(call?.spanId);
  });
});

describe('events over NATS JetStream', () => {
  it('a completion reaches the feedback report, and its processing continues the request trace', async () => {
    const [otlp, nats] = await Promise.all([startOtlpReceiver(), startNats({ jetstream: true })]);
    const procs = await meshProcesses(otlp, nats.url);
    const [gateway, , , , feedback] = procs as [ServiceProcess, ServiceProcess, ServiceProcess, ServiceProcess, ServiceProcess];
    const channel = grpcJsChannel(gateway.url);
    const feedbackChannel = grpcJsChannel(feedback.url);
    try {
      const r = await grpcJsUnary(channel, InferenceService.method.predict, { prompt: 'In the beginning', requestId: 'e2e-1', sampling: { maxTokens: 8 } });
      const report = await waitFor(
        async () => {
          const rep = await grpcJsUnary(feedbackChannel, FeedbackService.method.getReport, { model: r.model });
          if (Number(rep.variants[0]?.completions ?? 0) < 1) throw new Error('not yet');
          return rep;
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      expect(report.variants[0]).toMatchObject({ model: 'tinygpt@1', completions: 1n, completionTokens: 8n });
      expect(report.variants[0]!.latencyP50Ms).toBeGreaterThan(0);

      const spans = await otlp.waitFor((all) => all.some((s) => s.serviceName === 'feedback' && s.kind === 'consumer'), 10_000);
      const consumer = spans.find((s) => s.serviceName === 'feedback' && s.kind === 'consumer')!;
      const gatewayRoot = spans.find((s) => s.serviceName === 'gateway' && s.kind === 'server' && s.name.endsWith('InferenceService/Predict'))!;
      expect(consumer.traceId).toBe(gatewayRoot.traceId);
    } finally {
      channel.close();
      feedbackChannel.close();
      await Promise.all(procs.map((p) => p.stop()));
      await otlp.stop();
      await nats.stop();
    }
  }, 120_000);
});

describe('graceful shutdown', () => {
  it('SIGTERM during a stream lets it finish, then the process exits 0', async () => {
    const otlp = await startOtlpReceiver();
    const procs = await meshProcesses(otlp);
    const gateway = procs[0]!;
    const channel = grpcJsChannel(gateway.url);
    try {
      let chunks = 0;
      let last;
      for await (const m of grpcJsServerStream(channel, InferenceService.method.streamPredict, {
        prompt: 'In the beginning',
        sampling: { maxTokens: 200, temperature: 0 },
      })) {
        if (++chunks === 3) void gateway.stop();
        last = m;
      }
      expect(last?.finishReason).toBe(FinishReason.LENGTH);
      expect(last?.usage?.completionTokens).toBe(200);
      expect(await gateway.exited).toBe(0);
    } finally {
      channel.close();
      await Promise.all(procs.map((p) => p.stop()));
      await otlp.stop();
    }
  }, 120_000);
});
