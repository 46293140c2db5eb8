import { Code, ConnectError } from '@connectrpc/connect';
import type { GenerateRequest } from '@tokenmesh/proto';

import { restApi } from '../../src/api/rest/rest-api';
import { SaturationGate } from '../../src/edge/saturation-gate';
import { byteTokenizer, fakeFeedback, fakeRouter, listen } from '../fakes';

const full = () => new ConnectError('the queue is full; retry after 1 s', Code.ResourceExhausted, { 'retry-after': '1' });

describe('SaturationGate', () => {
  it('refuses a model at once, with Retry-After, only after the router found its workers full, and only for the window', async () => {
    const shed: string[] = [];
    const gate = new SaturationGate(30, (m) => shed.push(m));
    gate.admit('tinygpt');
    gate.observe('tinygpt', new ConnectError('no worker', Code.Unavailable));
    gate.admit('tinygpt');
    gate.observe('tinygpt', full());
    let refused: unknown;
    try {
      gate.admit('tinygpt');
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ code: Code.ResourceExhausted });
    expect((refused as ConnectError).metadata.get('retry-after')).toBe('1');
    gate.admit('tinyllama');
    expect(shed).toEqual(['tinygpt']);
    await new Promise((r) => setTimeout(r, 40));
    gate.admit('tinygpt');
  });

  it('a refusal sheds requests of its priority and worse ones: a batch line turned away never sheds interactive requests', () => {
    const gate = new SaturationGate(60_000);
    const admitted = (priority: number) => {
      try {
        gate.admit('tinygpt', priority);
        return true;
      } catch {
        return false;
      }
    };
    gate.observe('tinygpt', full(), 10);
    expect([admitted(0), admitted(5), admitted(10), admitted(20)]).toEqual([true, true, false, false]);
    gate.observe('tinygpt', full(), 0);
    expect([admitted(0), admitted(10)]).toEqual([false, false]);
  });

  it('a window of 0 never sheds', () => {
    const gate = new SaturationGate(0);
    gate.observe('tinygpt', full());
    gate.admit('tinygpt');
  });
});

describe('shedding through the REST API', () => {
  const seen: GenerateRequest[] = [];
  let http: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    // eslint-disable-next-line require-yield
    const router = fakeRouter(async function* (req): AsyncGenerator<never> {
      seen.push(req);
      throw full();
    });
    const upstreams = { tokenizer: byteTokenizer(), router, defaultModel: 'tinygpt', saturation: new SaturationGate(60_000) };
    http = await listen(restApi({ upstreams, feedback: fakeFeedback(), bodyLimitBytes: 4096 }));
  });
  afterAll(() => http.close());

  it('after one refusal from the router, the next requests are 429 without reaching it', async () => {
    const post = () => fetch(`${http.base}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"hi"}' });
    for (let i = 0; i < 3; i++) {
      const res = await post();
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'resource_exhausted' } });
    }
    expect(seen).toHaveLength(1);
  });
});
