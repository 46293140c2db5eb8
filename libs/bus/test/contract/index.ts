import type { BusFixture } from './fixture';
import { coreContract } from './core';
import { durableContract } from './durable';
import { redeliveryContract } from './redelivery';
import { streamAdminContract } from './stream-admin';

/**
 * The one behaviour suite every `Bus` adapter must pass. `start` runs once per adapter, in
 * beforeAll, and its fixture's teardown in afterAll.
 */
export function busContract(adapter: string, start: () => Promise<BusFixture>): void {
  describe(`Bus contract: ${adapter}`, () => {
    let fixture: BusFixture | undefined;
    const get = (): BusFixture => {
      if (!fixture) throw new Error('fixture not started');
      return fixture;
    };
    beforeAll(async () => {
      fixture = await start();
    });
    afterAll(async () => {
      await fixture?.teardown();
    });

    coreContract(get);
    durableContract(get);
    redeliveryContract(get);
    streamAdminContract(get);
  });
}

export type { BusFixture } from './fixture';
