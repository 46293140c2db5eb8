import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

import { parseTrafficConfig, type TrafficConfig } from './split-config';

/** Options for {@link watchTrafficConfig}. */
export interface WatchTrafficConfigOptions {
  /** How often the file is checked, in ms. Default 1000. */
  readonly intervalMs?: number;
}

/** A running watch; `close` stops it, and no callback runs after it returns. */
export interface TrafficConfigWatch {
  close(): void;
}

/**
 * Reads and validates a traffic-split file synchronously, for start-up: a bad file should stop
 * the router before it serves anything.
 * @throws TrafficConfigError naming the path and every problem, or the fs error if unreadable.
 */
export function loadTrafficConfig(path: string): TrafficConfig {
  return parseTrafficConfig(readFileSync(path, 'utf8'), path);
}

/**
 * Re-reads `path` whenever its inode, size or mtime changes and passes each valid new config to
 * `onChange`. An invalid file, or one that disappears, goes to `onError` once per change, and the
 * caller keeps the config it has. Polls rather than using fs.watch: editors and config-map
 * updates replace the file by rename, which fs.watch stops following.
 *
 * Changes are compared against the file as it was when the watch started, so start the watch,
 * then load: an edit in between is then reloaded rather than lost. Exceptions thrown by the
 * callbacks are not caught, like those of an event listener.
 */
export function watchTrafficConfig(
  path: string,
  onChange: (config: TrafficConfig) => void,
  onError: (err: Error) => void,
  opts: WatchTrafficConfigOptions = {},
): TrafficConfigWatch {
  const intervalMs = opts.intervalMs ?? 1000;
  if (!(intervalMs > 0 && Number.isFinite(intervalMs))) throw new RangeError(`intervalMs must be a positive number, got ${intervalMs}`);
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let seen = probeSync(path).id;
  // Skips re-parsing when only metadata changed (touch, an identical rewrite).
  let lastText: string | undefined;

  const check = async (): Promise<void> => {
    const probe = await probeFile(path);
    if (closed || probe.id === seen) return;
    seen = probe.id;
    if (probe.error) return onError(probe.error);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      // Gone between stat and read: the next probe reports it once, as a missing file.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') seen = undefined;
      else if (!closed) onError(err as Error);
      return;
    }
    // Still being written (truncate, then write): leave it for the next poll, which sees the new size or mtime.
    if (closed || (await probeFile(path)).id !== probe.id) return;
    if (text === lastText) return;
    lastText = text;
    let config: TrafficConfig;
    try {
      config = parseTrafficConfig(text, path);
    } catch (err) {
      return onError(err as Error);
    }
    onChange(config);
  };

  // A chain of timeouts rather than setInterval, so a slow disk never runs two checks at once.
  const schedule = (): void => {
    timer = setTimeout(() => {
      void check().finally(() => {
        if (!closed) schedule();
      });
    }, intervalMs);
    // Watching is never a reason for the process to stay up.
    timer.unref();
  };
  schedule();

  return {
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}

/** `id` changes when the file is replaced (inode), rewritten (size, mtime) or becomes unreadable. */
interface Probe {
  readonly id: string | undefined;
  readonly error?: Error;
}

async function probeFile(path: string): Promise<Probe> {
  try {
    const s = await stat(path, { bigint: true });
    return { id: `${s.ino}:${s.size}:${s.mtimeNs}` };
  } catch (err) {
    return failed(err);
  }
}

function probeSync(path: string): Probe {
  try {
    const s = statSync(path, { bigint: true });
    return { id: `${s.ino}:${s.size}:${s.mtimeNs}` };
  } catch (err) {
    return failed(err);
  }
}

function failed(err: unknown): Probe {
  const e = err as NodeJS.ErrnoException;
  return { id: `error:${e.code ?? e.message}`, error: e };
}
