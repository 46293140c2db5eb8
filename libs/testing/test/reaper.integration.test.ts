import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { waitFor } from '../src';
import { alive, gone } from './helpers';

/**
 * Runs fixtures/start-and-exit.ts in a child node process, which starts both servers and then
 * ends without stop(); returns what it started and how it ended.
 */
async function runFixture(mode: 'exit' | 'crash' | 'SIGTERM' | 'SIGKILL') {
  const child = spawn(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), join(__dirname, 'fixtures/start-and-exit.ts'), mode.startsWith('SIG') ? 'wait' : mode],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? -1)));
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    void exited.then(() => reject(new Error(`fixture exited before starting servers:\n${stderr}`)));
  });
  lines.close();
  const started = JSON.parse(first) as { pids: number[]; dirs: string[] };
  if (mode === 'SIGTERM' || mode === 'SIGKILL') child.kill(mode);
  return { ...started, exit: await exited };
}

describe('servers never outlive the test process', () => {
  it.each([
    ['exits without stopping them', 'exit', 3],
    ['crashes with an unhandled error', 'crash', 1],
    ['is told to stop with SIGTERM', 'SIGTERM', 'SIGTERM'],
    ['is killed with SIGKILL', 'SIGKILL', 'SIGKILL'],
  ] as const)('when the process %s', async (_, mode, expectedExit) => {
    const { pids, dirs, exit } = await runFixture(mode);
    expect(exit).toBe(expectedExit);
    await waitFor(() => pids.every((pid) => !alive(pid)) && dirs.every(gone), { timeoutMs: 3000 });
  });
});
