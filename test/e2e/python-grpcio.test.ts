import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { startSupervisor, type SupervisorProcess } from '@tokenmesh/testing';

const run = promisify(execFile);
const ROOT = join(__dirname, '../..');

/**
 * docs/clients.md's Python example, as a Python user runs it: stubs generated with Debian's
 * protoc and grpc_python_plugin (scripts/examples/python/gen.sh), Debian's grpcio calling the
 * gateway of `npm start` (scripts/examples/python/predict.py).
 */
describe('Python grpcio against the gateway (npm start)', () => {
  let mesh: SupervisorProcess;
  let stubs: string;
  beforeAll(async () => {
    stubs = mkdtempSync(join(tmpdir(), 'py-stubs-'));
    await run('bash', [join(ROOT, 'scripts/examples/python/gen.sh'), stubs]);
    mesh = await startSupervisor({ OTEL_TRACES_EXPORTER: 'none' });
  }, 120_000);
  afterAll(async () => {
    expect(await mesh?.stop()).toBe(0);
    rmSync(stubs, { recursive: true, force: true });
  }, 60_000);

  it('health, ListModels, Predict and StreamPredict answer; a bad request is INVALID_ARGUMENT naming the field; the text is the REST answer', async () => {
    const target = mesh.url.replace(/^http:\/\//, '');
    const { stdout } = await run('/usr/bin/python3', [join(ROOT, 'scripts/examples/python/predict.py'), target, 'In the beginning'], {
      env: { ...process.env, STUBS: stubs },
      timeout: 60_000,
    });
    const out = JSON.parse(stdout) as {
      health: string;
      models: string[];
      text: string;
      model: string;
      completion_tokens: number;
      streamed: string;
      refused: { code: string; details: string };
    };
    const rest = await fetch(`${mesh.httpUrl}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'In the beginning', max_tokens: 16, temperature: 0 }),
    });
    const restText = ((await rest.json()) as { text: string }).text;
    expect(out).toMatchObject({ health: 'SERVING', model: 'tinygpt@1', completion_tokens: 16, text: restText, streamed: restText });
    expect(out.models).toContain('tinygpt');
    expect(out.refused).toEqual({ code: 'INVALID_ARGUMENT', details: expect.stringMatching(/^prompt: must not be empty/) });
  }, 60_000);
});
