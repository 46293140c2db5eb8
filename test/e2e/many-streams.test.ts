import { Agent, request } from 'node:http';

import { startSupervisor, type SupervisorProcess } from '@tokenmesh/testing';

const STREAMS = 500;
const TOKENS = 32;

/** One SSE completion: its HTTP status and the number of text events and completion tokens it got. */
function stream(base: URL, agent: Agent, i: number): Promise<{ status: number; texts: number; tokens: number; finish: string; error?: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({
      prompt: `In the beginning ${i}`,
      max_tokens: TOKENS,
      temperature: 0.8,
      stream: true,
      stream_options: { include_usage: true },
    });
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path: '/v1/completions',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => {
          const tokens = Number(/"completion_tokens":(\d+)/.exec(data)?.[1] ?? 0);
          // An error event is `data: {"error": …}` (a text delta may well say "error").
          const error = data.includes('data: {"error"') ? data.slice(0, 200) : undefined;
          const finish = /"finish_reason":"(\w+)"/.exec(data)?.[1] ?? '';
          resolve({ status: res.statusCode ?? 0, texts: (data.match(/"text":"[^"]/g) ?? []).length, tokens, finish, ...(error ? { error } : {}) });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
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
      const results = await Promise.all(Array.from({ length: STREAMS }, (_, i) => stream(new URL(mesh.httpUrl), agent, i)));
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
