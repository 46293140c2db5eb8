import { performance } from 'node:perf_hooks';

/**
 * How busy this thread's event loop is: the share of time it spent running callbacks rather
 * than waiting, over the last second or so (an exponential average of 250 ms samples of
 * `performance.eventLoopUtilization()`). The serving thread shares the machine with the
 * onnxruntime threads; when it is busy, work it saves is compute the model gets back.
 */
export class ServingLoad {
  private last = performance.eventLoopUtilization();
  private value = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    periodMs = 250,
    private readonly weight = 0.3,
  ) {
    this.timer = setInterval(() => this.sample(), periodMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, this.last);
    this.last = now;
    this.value += this.weight * (delta.utilization - this.value);
  }

  /** 0 (idle) to 1 (never waiting). */
  get utilization(): number {
    return this.value;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

let shared: ServingLoad | undefined;

/** The process's one ServingLoad, started on first use. */
export function servingLoad(): ServingLoad {
  return (shared ??= new ServingLoad());
}
