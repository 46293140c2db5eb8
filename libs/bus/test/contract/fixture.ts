import type { Bus, BusErrorReporter, DurableMessage } from '../../src';

/** What the contract suite needs from an adapter: connections to one shared backend. */
export interface BusFixture {
  /** A new connection to the same server (NATS) or broker (memory). */
  connect(opts?: { onError?: BusErrorReporter }): Promise<Bus>;
  /** Stops the backend. */
  teardown(): Promise<void>;
}

/** Opens connections for one test and closes them all afterwards. */
export class Connections {
  private readonly open: Bus[] = [];
  readonly errors: unknown[] = [];

  constructor(private readonly fixture: () => BusFixture) {}

  /** A connection whose handler errors land in `errors`. */
  async bus(): Promise<Bus> {
    const bus = await this.fixture().connect({ onError: (err) => this.errors.push(err) });
    this.open.push(bus);
    return bus;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.open.splice(0).map((b) => b.close()));
    this.errors.length = 0;
  }
}

let counter = 0;
/** A fresh name per test, so tests sharing a server never see each other's subjects or streams. */
export function unique(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}`;
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Resolves after `ms`; for handlers that simulate work, never as a wait for delivery. */
export const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A durable handler that records each payload and acks it. */
export const ackInto =
  (into: string[]) =>
  (m: DurableMessage): void => {
    into.push(dec(m.data));
    m.ack();
  };
