import { type ChildProcess, spawn } from 'node:child_process';
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
  return spawnUntil(name, join('services', name, 'src', 'main.ts'), env, timeoutMs, (log) =>
    log['msg'] === 'service started' ? { url: log['url'] as string, httpUrl: log['http_url'] as string, extra: undefined } : undefined,
  );
}

/** A JSON log line of a tokenmesh process. */
export type LogLine = Record<string, unknown>;

/**
 * Spawns a tokenmesh entry point (a path relative to the checkout: this one, or TOKENMESH_ROOT,
 * e.g. an older commit's worktree for a before/after benchmark) and resolves once `ready`
 * recognises one of its log lines, with the URLs (and anything else) `ready` took from it.
 */
export function spawnUntil<X>(
  name: string,
  entry: string,
  env: Record<string, string>,
  timeoutMs: number,
  ready: (log: LogLine) => { url: string; httpUrl: string; extra: X } | undefined,
): Promise<ServiceProcess & { readonly extra: X }> {
  const root = process.env['TOKENMESH_ROOT'] ?? ROOT;
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(root, entry)], {
    cwd: root,
    env: { ...process.env, OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const disarm = reapOnExit(child);
  let out = '';
  let partial = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => (disarm(), r(code))));
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    let started = false;
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      out = (out + text).slice(-TAIL_CHARS);
      if (started) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        let found;
        try {
          found = ready(JSON.parse(line) as LogLine);
        } catch {
          continue;
        }
        if (!found) continue;
        started = true;
        clearTimeout(timer);
        let stopping: Promise<number | null> | undefined;
        resolveStart({
          name,
          url: found.url,
          httpUrl: found.httpUrl,
          extra: found.extra,
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
        return;
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
