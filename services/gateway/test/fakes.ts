import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createClient, createRouterTransport, type ServiceImpl } from '@connectrpc/connect';
import { FeedbackService, GenerationService, TokenizerService } from '@tokenmesh/proto';
import { type ServiceProcess, startServiceProcess } from '@tokenmesh/testing';

/** A tokenizer whose ids are the prompt's bytes (context 512), detokenizing byte for byte. */
export function byteTokenizer() {
  return createClient(
    TokenizerService,
    createRouterTransport((r) =>
      r.service(TokenizerService, {
        encode: (req) => ({ tokenIds: [...Buffer.from(req.text)], prompt: req.text, contextLength: 512 }),
        async *decodeStream(reqs) {
          for await (const q of reqs) yield { text: Buffer.from(q.tokenIds).toString() };
        },
      }),
    ),
  );
}

/** A router (or worker) client whose Generate is `generate`; it serves no models. */
export function fakeRouter(generate: ServiceImpl<typeof GenerationService>['generate']) {
  return createClient(
    GenerationService,
    createRouterTransport((r) => r.service(GenerationService, { listServedModels: () => ({ models: [] }), generate })),
  );
}

/** A feedback client that accepts everything. */
export function fakeFeedback() {
  return createClient(
    FeedbackService,
    createRouterTransport((r) => r.service(FeedbackService, { submitFeedback: () => ({ feedbackId: 'fb' }) })),
  );
}

/** An HTTP/1.1 server on a free loopback port: its base URL and a close that drops open connections. */
export async function listen(handler: RequestListener): Promise<{ server: Server; base: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * A gateway process on free ports whose upstreams are absent (the discard port, where nothing
 * listens): for what the edge decides before any upstream is called (keys, CORS). Never ready.
 */
export function gatewayWithoutUpstreams(env: Record<string, string>): Promise<ServiceProcess> {
  const dead = 'http://127.0.0.1:9';
  return startServiceProcess('gateway', {
    GATEWAY_GRPC_PORT: '0',
    GATEWAY_HTTP_PORT: '0',
    GATEWAY_TOKENIZER_URL: dead,
    GATEWAY_ROUTER_URL: dead,
    GATEWAY_FEEDBACK_URL: dead,
    ...env,
  });
}
