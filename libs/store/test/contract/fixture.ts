import type { Store } from '../../src';

/** What the contract suite needs from an adapter: stores over one shared backend. */
export interface StoreFixture {
  /** A new client of the same server (Redis) or keyspace (memory). */
  open(opts?: { prefix?: string }): Promise<Store>;
  /** Every live key in the backend, prefixes included. */
  rawKeys(): Promise<string[]>;
  teardown(): Promise<void>;
}

/** Opens stores for one test and closes them all afterwards. */
export class Clients {
  private readonly open: Store[] = [];

  constructor(private readonly fixture: () => StoreFixture) {}

  async store(opts?: { prefix?: string }): Promise<Store> {
    const store = await this.fixture().open(opts);
    this.open.push(store);
    return store;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.open.splice(0).map((s) => s.close()));
  }
}

let counter = 0;
/** A fresh key per test, so tests sharing a server never collide. */
export function unique(name: string): string {
  return `${name}:${Date.now().toString(36)}${(counter++).toString(36)}`;
}
