import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { FeedbackService, GenerationService, TokenizerService } from '@tokenmesh/proto';
import { restApi } from '../src/rest/rest-api';

// A worker that is full answers RESOURCE_EXHAUSTED with a retry-after hint (tested in the
// inference service); here only the gateway's translation of that answer is under test.
describe('overload through the REST API', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const tokenizer = createClient(
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
    const router = createClient(
      GenerationService,
      createRouterTransport((r) =>
        r.service(GenerationService, {
          listServedModels: () => ({ models: [] }),
          // eslint-disable-next-line require-yield
          async *generate(): AsyncGenerator<never> {
            throw new ConnectError('the queue is full (256 requests waiting); retry after 2 s', Code.ResourceExhausted, { 'retry-after': '2' });
          },
        }),
      ),
    );
    const feedback = createClient(FeedbackService, createRouterTransport((r) => r.service(FeedbackService, {})));
    server = createServer(restApi({ upstreams: { tokenizer, router, defaultModel: 'tinygpt' }, feedback, bodyLimitBytes: 4096 }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('answers 429 with Retry-After and a rate_limit_error body', async () => {
    const res = await fetch(`${base}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"hi"}' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(await res.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'resource_exhausted' } });
  });
});
