import { MemoryBroker, MemoryBus } from '../src';
import { busContract } from './contract';

// Buses sharing a broker are like connections to one server: the contract's "reconnect".
busContract('MemoryBus', async () => {
  const broker = new MemoryBroker();
  return {
    connect: async (opts) => new MemoryBus({ broker, ...opts }),
    teardown: async () => undefined,
  };
});
