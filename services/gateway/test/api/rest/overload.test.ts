import { Code, ConnectError } from '@connectrpc/connect';

import { restApi } from '../../../src/api/rest/rest-api';
import { byteTokenizer, fakeFeedback, fakeRouter, listen } from '../../fakes';

// A worker that is full answers RESOURCE_EXHAUSTED with a retry-after hint (tested in the
// inference service); here only the gateway's translation of that answer is under test.
describe('overload through the REST API', () => {
  let http: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    // eslint-disable-next-line require-yield
    const router = fakeRouter(async function* (): AsyncGenerator<never> {
      throw new ConnectError('the queue is full (256 requests waiting); retry after 2 s', Code.ResourceExhausted, { 'retry-after': '2' });
    });
    http = await listen(
      restApi({ upstreams: { tokenizer: byteTokenizer(), router, defaultModel: 'tinygpt' }, feedback: fakeFeedback(), bodyLimitBytes: 4096 }),
    );
  });
  afterAll(() => http.close());

  it('answers 429 with Retry-After and a rate_limit_error body', async () => {
    const res = await fetch(`${http.base}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"hi"}' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(await res.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'resource_exhausted' } });
  });
});
