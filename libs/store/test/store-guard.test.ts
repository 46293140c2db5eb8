import { MemoryStore, type StoreFailure, StoreGuard, type StoreGuardOptions, StoreUnavailableError } from '../src';

/** A guard whose reports are recorded: every failure, and each outage's start and end. */
function recorded(over: Partial<StoreGuardOptions> = {}) {
  const log: string[] = [];
  const guard = new StoreGuard({
    name: 'test cache',
    timeoutMs: 30,
    onFailure: (f: StoreFailure) => log.push(`failure:${f}`),
    onOutage: (f, err) => log.push(`outage:${f}:${err.message}`),
    onRecovery: () => log.push('recovered'),
    ...over,
  });
  return { guard, log };
}

const hung = () => new Promise<never>(() => undefined);
const failing = () => Promise.reject(new Error('connection refused'));

describe('StoreGuard', () => {
  it('answers with the store’s value while it answers in time', async () => {
    const store = new MemoryStore();
    await store.set('k', 'v');
    const { guard, log } = recorded();
    expect(await guard.attempt(() => store.get('k'))).toEqual({ ok: true, value: 'v' });
    expect(await guard.call(() => store.get('k'), 'fallback')).toBe('v');
    expect([log, guard.down]).toEqual([[], false]);
    await store.close();
  });

  it('gives up on a hung store at the deadline, and fails open with the fallback', async () => {
    const { guard, log } = recorded();
    const t0 = performance.now();
    expect(await guard.call(hung, 'fallback')).toBe('fallback');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(log).toEqual(['failure:timeout', 'outage:timeout:test cache: the store did not answer within 30 ms']);
    const r = await guard.attempt(hung);
    expect(r).toMatchObject({ ok: false, failure: 'timeout' });
  });

  it('fails closed with StoreUnavailableError naming how it failed', async () => {
    const { guard } = recorded({ failure: 'closed' });
    const err = await guard.call(failing, 'unused').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({ failure: 'error', message: 'connection refused' });
    await expect(guard.call(hung, 'unused')).rejects.toMatchObject({ failure: 'timeout' });
  });

  it('reports an outage once when it starts and once when it ends, counting every failure', async () => {
    const { guard, log } = recorded();
    const closed = new MemoryStore();
    await closed.close();
    for (let i = 0; i < 3; i++) await guard.call(() => closed.get('k'), null);
    await guard.call(hung, null);
    expect(guard.down).toBe(true);
    await guard.call(async () => 'back', null);
    await guard.call(async () => 'still', null);
    await guard.call(failing, null);
    // Outages without their message.
    expect(log.map((l) => (l.startsWith('outage') ? l.split(':').slice(0, 2).join(':') : l))).toEqual([
      'failure:error',
      'outage:error',
      'failure:error',
      'failure:error',
      'failure:timeout',
      'recovered',
      'failure:error',
      'outage:error',
    ]);
  });

  it('drops a late answer or error after the deadline without an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { guard } = recorded({ timeoutMs: 5 });
      const late = () => new Promise<never>((_, reject) => setTimeout(() => reject(new Error('late')), 20));
      expect(await guard.call(late, 'fallback')).toBe('fallback');
      await new Promise((r) => setTimeout(r, 40));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
