import { createGauge, type Registry } from '@tokenmesh/metrics';

import type { Bus } from './bus';

/** A scrape waits at most this long for the bus; past it the gauge keeps its last value. */
const ASK_TIMEOUT_MS = 500;

export interface ConsumerLagGauge {
  /** `tokenmesh_<name>`. */
  readonly name: string;
  readonly help: string;
  readonly stream: string;
  readonly durable: string;
}

/**
 * A gauge of how far a durable consumer is behind (Bus.consumerLag), asked of the bus at each
 * scrape. While the bus cannot answer (NATS away) the last value stays, and the bus-disconnected
 * alert says why.
 */
export function consumerLagGauge(registry: Registry, bus: Bus, g: ConsumerLagGauge): void {
  createGauge(registry, {
    name: g.name,
    help: g.help,
    async collect() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ASK_TIMEOUT_MS)));
      const lag = await Promise.race([bus.consumerLag(g.stream, g.durable).catch(() => undefined), timeout]);
      clearTimeout(timer);
      if (lag !== undefined) this.set(lag);
    },
  });
}
