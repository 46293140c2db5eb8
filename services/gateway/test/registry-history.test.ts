import { MemoryStore } from '@tokenmesh/store';

import { HISTORY_SCAN_LIMIT, RegistryHistory } from '../src/registry/registry-history';

describe('RegistryHistory', () => {
  it('lists newest first across read windows, filters by model, and deletes what the scan limit can no longer reach', async () => {
    const store = new MemoryStore();
    const history = new RegistryHistory(store);
    for (let i = 0; i < HISTORY_SCAN_LIMIT + 5; i++) await history.append({ action: 'load', model: i % 2 === 0 ? 'a' : 'b', version: String(i) });
    const newest = await history.list(undefined, 250);
    expect(newest.map((e) => Number(e.seq))).toEqual(Array.from({ length: 250 }, (_, i) => HISTORY_SCAN_LIMIT + 5 - i));
    expect((await history.list('a', 3)).map((e) => e.version)).toEqual(['1004', '1002', '1000']);
    expect(await store.get('registry:history:5')).toBeNull();
    expect(await store.get('registry:history:6')).not.toBeNull();
  });
});
