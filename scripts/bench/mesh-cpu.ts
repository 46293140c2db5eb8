/**
 * CPU time of a process's threads from /proc (Linux): the serving thread is the main thread
 * (its id is the process id); the others are onnxruntime's worker threads, V8's helpers and
 * libuv's pool.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** /proc reports CPU time in clock ticks of 1/100 s on Linux x86-64 and arm64. */
const TICK_US = 10_000;

/** µs of CPU (user + system) per thread id. */
export function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      // Fields after the command (which may contain spaces) start after the last ')'.
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), (Number(f[11]) + Number(f[12])) * TICK_US);
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return out;
}

/** CPU used between two snapshots: the main thread's, and every thread's together. */
export function cpuBetween(pid: number, before: Map<number, number>, after: Map<number, number>): { mainUs: number; totalUs: number; busiestOtherUs: number } {
  let total = 0;
  let busiestOther = 0;
  for (const [tid, us] of after) {
    const d = us - (before.get(tid) ?? 0);
    total += d;
    if (tid !== pid) busiestOther = Math.max(busiestOther, d);
  }
  return { mainUs: (after.get(pid) ?? 0) - (before.get(pid) ?? 0), totalUs: total, busiestOtherUs: busiestOther };
}
