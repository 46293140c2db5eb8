import { describeWithFixture } from '@tokenmesh/testing';

import { connectionContract } from './connection';
import { coreContract } from './core';
import { durableContract } from './durable';
import type { BusFixture } from './fixture';
import { objectsContract } from './objects';
import { redeliveryContract } from './redelivery';
import { replayContract } from './replay';
import { streamAdminContract } from './stream-admin';

/** The one behaviour suite every `Bus` adapter must pass; `start` runs once per adapter. */
export function busContract(adapter: string, start: () => Promise<BusFixture>): void {
  describeWithFixture(`Bus contract: ${adapter}`, start, (get) => {
    coreContract(get);
    durableContract(get);
    redeliveryContract(get);
    replayContract(get);
    streamAdminContract(get);
    connectionContract(get);
    objectsContract(get);
  });
}

export type { BusFixture } from './fixture';
