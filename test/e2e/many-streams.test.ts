import { Agent } from 'node:http';

import { postJson, sseError, startSupervisor, type SupervisorProcess } from '@tokenmesh/testing';

const STREAMS = 500;
const TOKENS = 32;

/** One SSE completion: its HTTP status and the number of text events and completion tokens it got. */
async function stream(url: string, agent: Agent, i: number): Promise<{ status: number; texts: number; tokens: number; finish: string; error?: string }> {
  const { status, text } = await postJson(agent, `${url}/v1/completions`, {
    prompt: `In the beginning ${i}`,
    max_tokens: TOKENS,
    temperature: 0.8,
    stream: true,
    stream_options: { include_usage: true },
  });
  const tokens = Number(/"completion_tokens":(\d+)/.exec(text)?.[1] ?? 0);
  const error = sseError(text);
  const finish = /"finish_reason":"(\w+)"/.exec(text)?.[1] ?? '';
  return { status, texts: (text.match(/"text":"[^"]/g) ?? []).length, tokens, finish, ...(error ? { error } : {}) };
}

// The load the product was specified for, at `npm start`'s default configuration: every stream is
// served (queued while the batch is full), none refused. The figures live in npm run bench:mesh.
describe(`${STREAMS} concurrent SSE streams against the embedded mesh`, () => {
  let mesh: SupervisorProcess;
  beforeAll(async () => {
    mesh = await startSupervisor();
  }, 120_000);
  afterAll(async () => {
    expect(await mesh?.stop()).toBe(0);
  }, 60_000);

  it(`all ${STREAMS} complete with 200 and ${TOKENS}-token-or-shorter completions`, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: STREAMS + 10 });
    try {
      const results = await Promise.all(Array.from({ length: STREAMS }, (_, i) => stream(mesh.httpUrl, agent, i)));
      const refused = results.filter((r) => r.status !== 200 || r.error);
      expect(refused).toEqual([]);
      // Sampled: end-of-text may end one early (even at once, with no text), but every stream
      // generated and finished.
      const odd = results.filter(
        (r) => !(r.tokens >= 1 && r.tokens <= TOKENS && ['length', 'stop'].includes(r.finish) && (r.texts >= 1 || r.finish === 'stop')),
      );
      expect(odd).toEqual([]);
    } finally {
      agent.destroy();
    }
  }, 300_000);
});
