import { Code, ConnectError } from '@connectrpc/connect';
import { FinishReason, type GenerateRequest } from '@tokenmesh/proto';

import { restApi } from '../../src/api/rest/rest-api';
import { type CapacityInfo, EdgeAdmission } from '../../src/edge/edge-admission';
import { byteTokenizer, fakeFeedback, fakeRouter, listen } from '../fakes';

function refusal(f: () => unknown): ConnectError | undefined {
  try {
    f();
  } catch (err) {
    return err as ConnectError;
  }
  return undefined;
}

describe('EdgeAdmission', () => {
  it('admits up to the capacity of every version of a name together, refuses the next with RESOURCE_EXHAUSTED and Retry-After', () => {
    const shed: string[] = [];
    const models: CapacityInfo[] = [
      { name: 'tinygpt', capacity: 2 },
      { name: 'tinygpt', capacity: 1 },
      { name: 'tinyllama', capacity: 1 },
    ];
    const edge = new EdgeAdmission(
      () => models,
      (m) => shed.push(m),
    );
    const held = [edge.admit('tinygpt'), edge.admit('tinygpt@1'), edge.admit('tinygpt@2')];
    const err = refusal(() => edge.admit('tinygpt'));
    expect(err).toMatchObject({ code: Code.ResourceExhausted });
    expect(err!.rawMessage).toContain('at capacity (3 requests running or waiting)');
    expect(err!.metadata.get('retry-after')).toBe('1');
    expect(refusal(() => edge.admit('tinygpt@1'))).toBeDefined();
    // Another name has its own count.
    edge.admit('tinyllama');
    expect(shed).toEqual(['tinygpt', 'tinygpt@1']);
    // A release gives one place back, once however often it is called.
    held[0]!();
    held[0]!();
    expect(edge.running('tinygpt')).toBe(2);
    edge.admit('tinygpt');
    expect(refusal(() => edge.admit('tinygpt'))).toBeDefined();
  });

  it('never refuses a name whose capacity is unknown: not listed yet, unlisted, or one version that has not said', () => {
    let models: CapacityInfo[] | undefined;
    const edge = new EdgeAdmission(() => models);
    for (let i = 0; i < 10; i++) edge.admit('tinygpt');
    models = [
      { name: 'tinygpt', capacity: 1 },
      { name: 'tinygpt', capacity: 0 },
    ];
    for (let i = 0; i < 10; i++) edge.admit('tinygpt');
    edge.admit('unlisted');
    // A new list is read on the next request.
    models = [{ name: 'tinygpt', capacity: 20 }];
    expect(refusal(() => edge.admit('tinygpt'))).toBeDefined();
  });

  it('starts admitted requests one per event-loop turn, in order, so what arrives meanwhile is read between them', async () => {
    const edge = new EdgeAdmission(() => undefined);
    const order: string[] = [];
    const turns = ['a', 'b', 'c'].map((id) => edge.turn().then(() => order.push(id)));
    // Work queued meanwhile (here an immediate; in a burst, the sockets' reads) runs between two starts.
    setImmediate(() => order.push('io'));
    await Promise.all(turns);
    expect(order).toEqual(['a', 'io', 'b', 'c']);
  });
});

describe('edge admission through the REST API', () => {
  const seen: GenerateRequest[] = [];
  let finishFirst: () => void = () => undefined;
  let http: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    const router = fakeRouter(async function* (req) {
      seen.push(req);
      yield { tokenIds: [104] };
      await new Promise<void>((r) => (finishFirst = r));
      yield { tokenIds: [105], finishReason: FinishReason.LENGTH, model: 'tinygpt@1' };
    });
    const admission = new EdgeAdmission(() => [{ name: 'tinygpt', capacity: 1 }]);
    http = await listen(
      restApi({ upstreams: { tokenizer: byteTokenizer(), router, defaultModel: 'tinygpt', admission }, feedback: fakeFeedback(), bodyLimitBytes: 4096 }),
    );
  });
  afterAll(() => http.close());

  const post = () => fetch(`${http.base}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"hi"}' });

  it('refuses past capacity without calling the router, and admits again once the running request ended', async () => {
    const first = post();
    while (seen.length < 1) await new Promise((r) => setTimeout(r, 5));
    const second = await post();
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(await second.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'resource_exhausted' } });
    expect(seen).toHaveLength(1);
    finishFirst();
    expect((await first).status).toBe(200);
    const third = post();
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    finishFirst();
    expect((await third).status).toBe(200);
  });
});
