import { describeWithFixture } from '@tokenmesh/testing';

import { aggregatesContract } from './aggregates';
import type { StoreFixture } from './fixture';
import { keysContract } from './keys';
import { rateLimitContract } from './rate-limit';
import { ttlContract } from './ttl';

/** The one behaviour suite every `Store` adapter must pass; `start` runs once per adapter. */
export function storeContract(adapter: string, start: () => Promise<StoreFixture>): void {
  describeWithFixture(`Store contract: ${adapter}`, start, (get) => {
    keysContract(get);
    ttlContract(get);
    aggregatesContract(get);
    rateLimitContract(get);
  });
}

export type { StoreFixture } from './fixture';
