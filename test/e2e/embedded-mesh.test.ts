import type * as grpc from '@grpc/grpc-js';
import { FinishReason, InferenceService } from '@tokenmesh/proto';
import {
  grpcJsChannel,
  grpcJsServerStream,
  grpcJsUnary,
  type OtlpReceiver,
  type ReceivedSpan,
  startOtlpReceiver,
  startSupervisor,
  type SupervisorProcess,
} from '@tokenmesh/testing';

/**
 * `npm start`'s topology: the five services in one process, calling each other in process. The
 * calls between them must still be traced hop by hop, as over the network.
 */
describe('the embedded mesh (npm start)', () => {
  let otlp: OtlpReceiver;
  let mesh: SupervisorProcess;
  let channel: grpc.Client;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    mesh = await startSupervisor({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '50' });
    channel = grpcJsChannel(mesh.url);
  }, 120_000);
  afterAll(async () => {
    channel?.close();
    expect(await mesh?.stop()).toBe(0);
    await otlp?.stop();
  }, 60_000);

  it('answers Predict and StreamPredict; one trace runs gateway → router → inference, each hop a client span parenting a server span', async () => {
    const one = await grpcJsUnary(channel, InferenceService.method.predict, { prompt: 'In the beginning', sampling: { maxTokens: 8, temperature: 0 } });
    expect([one.finishReason, one.usage?.completionTokens]).toEqual([FinishReason.LENGTH, 8]);

    otlp.clear();
    let text = '';
    for await (const m of grpcJsServerStream(channel, InferenceService.method.streamPredict, {
      prompt: 'trace me',
      sampling: { maxTokens: 4, temperature: 0 },
    }))
      text += m.text;
    expect(text.length).toBeGreaterThan(0);
    const isGenerate = (s: ReceivedSpan, service: string, kind: string) =>
      s.serviceName === service && s.kind === kind && s.name.endsWith('GenerationService/Generate');
    // Each service's exporter flushes on its own schedule, and the root span ends last: wait for the whole chain.
    const chain = (all: ReceivedSpan[]) => {
      const root = all.find((s) => s.serviceName === 'gateway' && s.kind === 'server' && s.name.endsWith('InferenceService/StreamPredict'));
      const inTrace = all.filter((s) => s.traceId === root?.traceId);
      const byId = new Map(inTrace.map((s) => [s.spanId, s]));
      const parentOf = (s: ReceivedSpan | undefined) => (s?.parentSpanId ? byId.get(s.parentSpanId) : undefined);
      // worker server ← router client ← router server ← gateway client ← gateway server (root)
      const worker = inTrace.find((s) => isGenerate(s, 'inference', 'server'));
      const routerClient = parentOf(worker);
      const routerServer = parentOf(routerClient);
      const gatewayClient = parentOf(routerServer);
      return { root, worker, routerClient, routerServer, gatewayClient, top: parentOf(gatewayClient) };
    };
    const spans = await otlp.waitFor((all) => chain(all).top !== undefined, 15_000).catch(() => otlp.spans());
    const { root, worker, routerClient, routerServer, gatewayClient, top } = chain(spans);
    expect(root).toBeDefined();
    expect([routerClient?.serviceName, routerClient?.kind]).toEqual(['router', 'client']);
    expect([routerServer?.serviceName, routerServer?.kind]).toEqual(['router', 'server']);
    expect([gatewayClient?.serviceName, gatewayClient?.kind]).toEqual(['gateway', 'client']);
    expect(top?.spanId).toBe(root?.spanId);
    expect(routerServer?.attributes).toMatchObject({ 'tokenmesh.worker_id': expect.any(String), 'rpc.system': 'grpc' });
    // Domain attributes (gen_ai.* conventions and ours) at the edge and at the worker.
    const generation = {
      'gen_ai.request.model': 'tinygpt',
      'gen_ai.request.max_tokens': 4,
      'gen_ai.request.temperature': 0,
      'gen_ai.usage.input_tokens': expect.any(Number),
      'gen_ai.usage.output_tokens': 4,
      'gen_ai.response.finish_reasons': ['length'],
    };
    expect(root?.attributes).toMatchObject({
      ...generation,
      'gen_ai.operation.name': 'text_completion',
      'tokenmesh.cache.outcome': 'miss',
      'tokenmesh.request_id': expect.any(String),
    });
    expect(worker?.attributes).toMatchObject({
      ...generation,
      'tokenmesh.worker_id': expect.any(String),
      'tokenmesh.batch.size': expect.any(Number),
      'tokenmesh.queue.wait_ms': expect.any(Number),
      'tokenmesh.priority': 0,
    });
    expect(worker?.attributes['tokenmesh.batch.size']).toBeGreaterThanOrEqual(1);
  });
});
