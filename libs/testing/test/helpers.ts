import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** Whether `pid` is a running process (a zombie awaiting its reaper counts as gone). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export const gone = (dir: string): boolean => !existsSync(dir);

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Sends `text` to 127.0.0.1:`port` and resolves with the reply once it contains `until`. */
export function converse(port: number, text: string, until: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(text));
    socket.on('data', (d) => {
      got += d.toString();
      if (got.includes(until)) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.once('error', reject);
  });
}
