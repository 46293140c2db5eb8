import type { Consumption } from './bus';

/** The consumptions a bus has running, so `close()` can stop them all; each leaves when stopped. */
export class ConsumptionSet {
  private readonly running = new Set<Consumption>();

  /** Registers `c` and returns the handle to give the caller. */
  track(c: Consumption): Consumption {
    const tracked: Consumption = {
      stop: async () => {
        this.running.delete(tracked);
        await c.stop();
      },
    };
    this.running.add(tracked);
    return tracked;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((c) => c.stop()));
  }
}
