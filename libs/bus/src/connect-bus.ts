import type { Bus } from './bus';
import { MemoryBroker } from './memory-broker';
import { MemoryBus } from './memory-bus';
import { NatsBus } from './nats-bus';

export interface ConnectBusOptions {
  /** Connection name shown by nats-server, e.g. the service name. */
  name: string;
  /** Services in one process (npm start) share one broker, so they hear each other. */
  broker?: MemoryBroker;
}

/** NATS (JetStream) when `natsUrl` is set, else an in-process bus. */
export async function connectBus(natsUrl: string | undefined, { name, broker }: ConnectBusOptions): Promise<Bus> {
  return natsUrl ? NatsBus.connect(natsUrl, { name }) : new MemoryBus({ broker: broker ?? new MemoryBroker() });
}
