import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './free-port';
import { reapOnExit } from './process-reaper';

/** A server started for a test. `stop()` kills it, waits for it to exit and removes its temp dir. */
export interface ServerHandle {
  /** e.g. `redis://127.0.0.1:40123` or `nats://127.0.0.1:40124`. */
  url: string;
  port: number;
  pid: number;
  /** Temp dir holding the server's data (JetStream store, redis dir); removed by `stop()`. */
  dir: string;
  /** Idempotent. */
  stop(): Promise<void>;
  /** An outage: kills the server (SIGKILL by default: no clean shutdown) and waits for it to exit; its data dir stays. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** The recovery: starts the server again on the same port with the same data dir, once it has exited; resolves when it answers. */
  restart(): Promise<void>;
}

/** How to launch one kind of server; see redis-server.ts and nats-server.ts. */
export interface LaunchSpec {
  name: string;
  binary: string;
  args(port: number, dir: string): string[];
  /** Resolves once the server answers on `port`; rejects while it does not yet. */
  probe(port: number): Promise<void>;
  url(port: number): string;
  readyTimeoutMs?: number;
}

const PORT_ATTEMPTS = 5;
const STOP_GRACE_MS = 5000;
const TAIL_CHARS = 4000;

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function stopChild(child: ChildProcess, dir: string | undefined, release: () => void): Promise<void> {
  if (!exited(child)) {
    child.kill('SIGTERM');
    if (!(await waitExit(child, STOP_GRACE_MS))) {
      child.kill('SIGKILL');
      await waitExit(child, STOP_GRACE_MS);
    }
  }
  release();
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** One running process of a server, on a given port and data dir. */
interface Running {
  readonly child: ChildProcess;
  readonly release: () => void;
}

/** Spawns the server and waits until it answers; 'port-taken' when another process has the port. */
async function run(spec: LaunchSpec, port: number, dir: string): Promise<Running | 'port-taken'> {
  const child = spawn(spec.binary, spec.args(port, dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  const release = reapOnExit(child, dir);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-TAIL_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  // A forgotten stop() must not keep jest alive; the reaper still kills the server at exit.
  child.unref();
  for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();

  const deadline = Date.now() + (spec.readyTimeoutMs ?? 10_000);
  for (;;) {
    if (spawnError || exited(child)) {
      await stopChild(child, undefined, release);
      if (/address already in use|bind: /i.test(output)) return 'port-taken';
      const why = spawnError ? spawnError.message : `exit code ${child.exitCode ?? child.signalCode}`;
      throw new Error(`${spec.name} failed to start (${why}):\n${output}`);
    }
    try {
      await spec.probe(port);
      return { child, release };
    } catch {
      // Not listening yet (or still loading): poll again.
    }
    if (Date.now() > deadline) {
      await stopChild(child, undefined, release);
      throw new Error(`${spec.name} did not accept connections on port ${port} in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Outcome of one attempt: a handle, or a retry because another process took the port. */
async function attempt(spec: LaunchSpec): Promise<ServerHandle | 'port-taken'> {
  const dir = mkdtempSync(join(tmpdir(), `tokenmesh-${spec.name}-`));
  const port = await freePort();
  const first = await run(spec, port, dir).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  if (first === 'port-taken') {
    rmSync(dir, { recursive: true, force: true });
    return 'port-taken';
  }
  let current = first;
  let stopped = false;
  const handle: ServerHandle = {
    url: spec.url(port),
    port,
    pid: current.child.pid ?? -1,
    dir,
    stop: async () => {
      stopped = true;
      await stopChild(current.child, dir, current.release);
    },
    kill: async (signal = 'SIGKILL') => {
      if (exited(current.child)) return;
      current.child.kill(signal);
      await waitExit(current.child, STOP_GRACE_MS);
    },
    restart: async () => {
      if (stopped) throw new Error(`${spec.name} was stopped: its port and data dir are released`);
      if (!exited(current.child)) throw new Error(`${spec.name} is still running: kill() it first`);
      current.release();
      mkdirSync(dir, { recursive: true });
      const again = await run(spec, port, dir);
      if (again === 'port-taken') throw new Error(`${spec.name}: port ${port} was taken while it was down`);
      current = again;
      handle.pid = again.child.pid ?? -1;
    },
  };
  return handle;
}

/** Starts the server described by `spec` on a free loopback port and waits until it answers. */
export async function launch(spec: LaunchSpec): Promise<ServerHandle> {
  for (let i = 0; i < PORT_ATTEMPTS; i++) {
    const result = await attempt(spec);
    if (result !== 'port-taken') return result;
  }
  throw new Error(`${spec.name}: no free port after ${PORT_ATTEMPTS} attempts`);
}
