import { resolve } from 'node:path';

import { type MeshProcesses, runningRequests, startMeshProcesses, waitFor } from '@tokenmesh/testing';

const TINYLLAMA = resolve(__dirname, '../../../../models/tinyllama');

// Two running and one waiting: the worker holds 3 requests; each generates for seconds (greedy,
// 200 tokens × 20 ms), so the burst below finds it full.
const WORKER = { INFERENCE_MAX_BATCH_SIZE: '2', INFERENCE_MAX_QUEUE_SIZE: '1', INFERENCE_STEP_DELAY_MS: '20' };
const CAPACITY = 3;
const BURST = 4 * CAPACITY;

interface Answer {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly body: string;
  readonly abort: AbortController;
}

/** Opens a streamed completion; a 200 is left open (its first bytes read), anything else read whole. */
async function open(base: string, i: number): Promise<Answer> {
  const abort = new AbortController();
  const res = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: `Hello ${i}`, max_tokens: 200, temperature: 0, stream: true }),
    signal: abort.signal,
  });
  if (res.status !== 200) return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text(), abort };
  const reader = res.body!.getReader();
  const first = await reader.read();
  return { status: 200, retryAfter: null, body: new TextDecoder().decode(first.value), abort };
}

async function counter(httpUrl: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  return [...text.matchAll(pattern)].reduce((n, m) => n + Number(m[1]), 0);
}

// The production topology: the worker reports what it holds (ListServedModels.capacity), the
// router sums it over its workers, and the gateway refuses what is past it before any work.
describe('a 4× overload burst, one process per service', () => {
  let mesh: MeshProcesses;
  beforeAll(async () => {
    mesh = await startMeshProcesses({ model: TINYLLAMA, worker: WORKER, gateway: { GATEWAY_LOCAL_TOKENIZERS: TINYLLAMA }, feedback: false });
  }, 120_000);
  afterAll(() => mesh?.stop(), 30_000);

  it('admits what the worker holds and refuses the rest at the gateway with 429 + Retry-After; a client leaving frees its place', async () => {
    const answers = await Promise.all(Array.from({ length: BURST }, (_, i) => open(mesh.gateway.httpUrl, i)));
    try {
      const ok = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status === 429);
      expect(ok).toHaveLength(CAPACITY);
      expect(refused).toHaveLength(BURST - CAPACITY);
      for (const r of refused) {
        expect(r.retryAfter).toBe('1');
        expect(JSON.parse(r.body)).toMatchObject({ error: { type: 'rate_limit_error', code: 'resource_exhausted' } });
        expect(r.body).toContain(`at capacity (${CAPACITY} requests running or waiting)`);
      }
      // Refused at the edge: none of them reached the router or the worker.
      expect(await counter(mesh.gateway.httpUrl, /^tokenmesh_gateway_shed_total\{[^}]*reason="capacity"[^}]*\} (\d+)/gm)).toBe(BURST - CAPACITY);
      expect(await counter(mesh.router.httpUrl, /^tokenmesh_rpc_server_requests_total\{[^}]*code="resource_exhausted"[^}]*\} (\d+)/gm)).toBe(0);
      expect(await counter(mesh.worker.httpUrl, /^tokenmesh_rpc_server_requests_total\{[^}]*code="resource_exhausted"[^}]*\} (\d+)/gm)).toBe(0);
    } finally {
      for (const a of answers) a.abort.abort();
    }
    // The clients left: their places at the edge and their worker slots are free again.
    await waitFor(async () => (await runningRequests(mesh.worker)) === 0, { timeoutMs: 10_000, intervalMs: 50 });
    const again = await Promise.all(Array.from({ length: CAPACITY }, (_, i) => open(mesh.gateway.httpUrl, 100 + i)));
    try {
      expect(again.map((a) => a.status)).toEqual(Array(CAPACITY).fill(200));
    } finally {
      for (const a of again) a.abort.abort();
    }
  }, 60_000);
});
