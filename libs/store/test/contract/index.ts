import { aggregatesContract } from './aggregates';
import type { StoreFixture } from './fixture';
import { keysContract } from './keys';
import { ttlContract } from './ttl';

/**
 * The one behaviour suite every `Store` adapter must pass. `start` runs once per adapter, in
 * beforeAll, and its fixture's teardown in afterAll.
 */
export function storeContract(adapter: string, start: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${adapter}`, () => {
    let fixture: StoreFixture | undefined;
    const get = (): StoreFixture => {
      if (!fixture) throw new Error('fixture not started');
      return fixture;
    };
    beforeAll(async () => {
      fixture = await start();
    });
    afterAll(async () => {
      await fixture?.teardown();
    });

    keysContract(get);
    ttlContract(get);
    aggregatesContract(get);
  });
}

export type { StoreFixture } from './fixture';
