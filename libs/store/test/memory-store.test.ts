import { waitFor } from '@tokenmesh/testing';

import { MemoryKeyspace, MemoryStore } from '../src';
import { storeContract } from './contract';

// Stores sharing a keyspace are like clients of one Redis: the contract's "several clients".
storeContract('MemoryStore', async () => {
  const keyspace = new MemoryKeyspace();
  return {
    open: async (opts) => new MemoryStore({ keyspace, ...opts }),
    rawKeys: async () => keyspace.keys(),
    teardown: async () => undefined,
  };
});

describe('MemoryKeyspace', () => {
  it('frees expired entries that are never read again', async () => {
    const keyspace = new MemoryKeyspace(20);
    const store = new MemoryStore({ keyspace });
    for (let i = 0; i < 100; i++) await store.set(`cache:${i}`, 'response', { ttlMs: 10 });
    await store.set('kept', 'forever');
    expect(keyspace.size).toBe(101);
    await waitFor(() => keyspace.size === 1, { timeoutMs: 2000 });
    expect(await store.get('kept')).toBe('forever');
    await store.close();
  });
});
