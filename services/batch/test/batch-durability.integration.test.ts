import {
  type MeshProcesses,
  type ServerHandle,
  type ServiceProcess,
  startMeshProcesses,
  startNats,
  startServiceProcess,
  submitBatch,
  waitFor,
} from '@tokenmesh/testing';

/**
 * The batch lane's durability with real processes on real NATS (JetStream, file storage): the
 * batch service is SIGKILLed twice mid-batch and NATS restarted once; the batch still completes
 * with exactly one output line per custom_id.
 */
describe('batch lane durability (processes, nats-server)', () => {
  let nats: ServerHandle;
  let mesh: MeshProcesses;
  const runners: ServiceProcess[] = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    mesh = await startMeshProcesses({ model: 'models/tinygpt', env: { NATS_URL: nats.url }, feedback: false });
  }, 120_000);
  afterAll(async () => {
    await Promise.all(runners.map((r) => r.stop(2000)));
    await mesh?.stop();
    await nats?.stop();
  });

  const runner = async () => {
    const r = await startServiceProcess('batch', {
      NATS_URL: nats.url,
      BATCH_GATEWAY_URL: mesh.gateway.httpUrl,
      BATCH_CONCURRENCY: '4',
      BATCH_LINE_ACK_WAIT_MS: '2000',
      BATCH_PORT: '0',
      BATCH_HTTP_PORT: '0',
    });
    runners.push(r);
    return r;
  };
  const api = (path: string, init?: RequestInit) => fetch(`${mesh.gateway.httpUrl}${path}`, init);
  const batchState = async (id: string) =>
    (await (await api(`/v1/batches/${id}`)).json()) as { status: string; request_counts: { completed: number; failed: number }; output_file_id: string | null };
  /** Requests whose first token the worker generated (its TTFT histogram's count). */
  const generations = async () => {
    const text = await (await fetch(`${mesh.worker.httpUrl}/metrics`)).text();
    return [...text.matchAll(/^tokenmesh_time_to_first_token_seconds_count\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };

  it('200 lines, batch service killed twice and NATS restarted, then two replicas: 200 output lines, one per custom_id', async () => {
    const lines = Array.from({ length: 200 }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/completions',
        body: { model: 'tinygpt', prompt: `Verse ${i}: And the`, max_tokens: 24, temperature: 0 },
      }),
    );
    const before = await generations();
    let r = await runner();
    const created = { id: (await submitBatch(mesh.gateway.httpUrl, { lines })).batchId };

    for (const at of [40, 100]) {
      await waitFor(async () => (await batchState(created.id)).request_counts.completed >= at, { timeoutMs: 60_000, intervalMs: 50 });
      r.child.kill('SIGKILL');
      await r.exited;
      if (at === 100) {
        await nats.kill('SIGTERM');
        await nats.restart();
      }
      r = await runner();
    }
    // A second replica for the rest: both take lines from the one shared consumer.
    const second = await runner();
    // On a timeout the error says how far the batch got and which runners are alive.
    await waitFor(
      async () => {
        const res = await api(`/v1/batches/${created.id}`);
        const body = await res.text();
        const state = (res.ok ? JSON.parse(body) : {}) as { status?: string; request_counts?: unknown };
        if (state.status === 'completed') return true;
        const alive = [r, second].map((p) => (p.child.exitCode === null ? 'running' : `exited ${p.child.exitCode}`));
        const tail = (p: ServiceProcess) => p.output().slice(-1500);
        throw new Error(
          `batch ${res.ok ? `${state.status}, ${JSON.stringify(state.request_counts)}` : `GET ${res.status}: ${body.slice(0, 300)}`}; ` +
            `the two runners: ${alive.join(', ')}\n--- gateway:\n${tail(mesh.gateway)}\n--- runner:\n${tail(r)}\n--- second runner:\n${tail(second)}`,
        );
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const done = await batchState(created.id);
    expect(done.request_counts).toEqual({ total: 200, completed: 200, failed: 0 });
    const output = (await (await api(`/v1/files/${done.output_file_id}/content`)).text()).trim().split('\n');
    expect(output).toHaveLength(200);
    const ids = output.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
    expect(new Set(ids).size).toBe(200);
    expect(ids).toEqual(lines.map((_, i) => `line-${i}`));
    const ran = async (p: { httpUrl: string }) => {
      const text = await (await fetch(`${p.httpUrl}/metrics`)).text();
      return [...text.matchAll(/^tokenmesh_batch_lines_total\{[^}]*outcome="ok"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    // Both replicas ran lines.
    expect(await ran(r)).toBeGreaterThan(0);
    expect(await ran(second)).toBeGreaterThan(0);
    const generated = (await generations()) - before;
    process.stdout.write(`batch durability: ${generated} generations for 200 lines\n`);
    // A line whose runner died before its ack runs again (its result, if stored, is not stored
    // twice), with the same Idempotency-Key: the gateway answers it from the first try's generation.
    expect(generated).toBe(200);
  }, 240_000);
});
