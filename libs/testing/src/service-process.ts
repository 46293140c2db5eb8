import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { reapOnExit } from './process-reaper';

const ROOT = resolve(__dirname, '../../..');
const TAIL_CHARS = 6000;

/** A tokenmesh service running in its own process, as in production. */
export interface ServiceProcess {
  readonly name: string;
  /** HTTP/2 base URL (gRPC, Connect, gRPC-Web). */
  readonly url: string;
  /** HTTP/1.1 base URL (REST, Connect, gRPC-Web, /metrics). */
  readonly httpUrl: string;
  readonly child: ChildProcess;
  /** stdout and stderr so far (the last few thousand characters), for failure messages. */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERM (graceful) and wait; SIGKILL after `killAfterMs`. Idempotent. */
  stop(killAfterMs?: number): Promise<number | null>;
}

/**
 * Starts `services/<name>/src/main.ts` with `env` (ports 0 unless given) and resolves once it
 * logs `service started`, with the URLs from that line. Rejects with its output if it exits or
 * takes longer than `timeoutMs`.
 */
export function startServiceProcess(name: string, env: Record<string, string>, timeoutMs = 30_000): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(ROOT, 'services', name, 'src', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const disarm = reapOnExit(child);
  let out = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => (disarm(), r(code))));
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      out = (out + chunk.toString('utf8')).slice(-TAIL_CHARS);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.includes('"service started"')) continue;
        const { url, http_url: httpUrl } = JSON.parse(line) as { url: string; http_url: string };
        clearTimeout(timer);
        let stopping: Promise<number | null> | undefined;
        resolveStart({
          name,
          url,
          httpUrl,
          child,
          exited,
          output: () => out,
          stop(killAfterMs = 15_000) {
            if (!stopping) {
              child.kill('SIGTERM');
              const kill = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
              stopping = exited.finally(() => clearTimeout(kill));
            }
            return stopping;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out = (out + c.toString('utf8')).slice(-TAIL_CHARS)));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before starting:\n${out}`));
    });
  });
}
