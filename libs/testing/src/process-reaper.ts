import { type ChildProcess, spawn } from 'node:child_process';

/*
 * A server a test forgot to stop, or that was running when the test process crashed or was
 * killed, must not outlive it. An exit hook cannot do this: jest gives each test file its own
 * copy of `process` whose 'exit' listeners never fire, and SIGKILL runs no hook at all. So each
 * server gets a watchdog shell blocked reading a pipe from this process; whenever this process
 * ends, however it ends, the kernel closes the pipe and the watchdog kills the server and
 * removes its temp dir.
 */
const WATCHDOG = 'read line; kill -KILL "$1" 2>/dev/null; [ -n "$2" ] && rm -rf "$2"';

/**
 * Arms a watchdog that kills `child` and removes `dir` (if given) once this process has exited; returns
 * the disarm to call after stopping the server normally.
 */
export function reapOnExit(child: ChildProcess, dir = ''): () => void {
  if (child.pid === undefined) return () => undefined; // spawn failed: nothing to reap
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'tokenmesh-reaper', String(child.pid), dir], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  // Neither the watchdog nor its pipe may keep this process alive.
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  watchdog.on('error', () => undefined);
  return () => {
    watchdog.kill('SIGKILL');
  };
}
