import type { Logger } from '@tokenmesh/logging';

/** Options for `onShutdownSignals`. */
export interface ShutdownSignalOptions {
  /** Signals to handle; default SIGTERM (Kubernetes, docker stop) and SIGINT (Ctrl-C). */
  signals?: NodeJS.Signals[];
  logger?: Logger;
  /** Where signals come from and how to exit; tests pass their own, main.ts never does. */
  target?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  exit?: (code: number) => void;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };

/**
 * For main.ts: on the first SIGTERM or SIGINT run `shutdown` (close servers, flush telemetry)
 * once, then exit 0, or 1 if it threw. A second signal while it runs exits at once with
 * 128 + signal number, for the operator who presses Ctrl-C twice. Returns a function that
 * removes the handlers.
 */
export function onShutdownSignals(shutdown: () => Promise<void> | void, options: ShutdownSignalOptions = {}): () => void {
  const { signals = ['SIGTERM', 'SIGINT'], logger, target = process, exit = (code) => process.exit(code) } = options;
  let started = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) {
      logger?.warn('second signal, exiting now', { signal });
      exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
      return;
    }
    started = true;
    logger?.info('shutdown signal received', { signal });
    Promise.resolve()
      .then(shutdown)
      .then(
        () => exit(0),
        (err: unknown) => {
          logger?.error('shutdown failed', { err });
          exit(1);
        },
      );
  };
  for (const s of signals) target.on(s, onSignal);
  return () => {
    for (const s of signals) target.off(s, onSignal);
  };
}
