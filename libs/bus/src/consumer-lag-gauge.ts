import { createGauge, type Registry } from '@tokenmesh/metrics';

import type { Bus } from './bus';
import { askAtScrape } from './scrape-ask';

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
      const lag = await askAtScrape(bus.consumerLag(g.stream, g.durable));
      if (lag !== undefined) this.set(lag);
    },
  });
}
