import { createMetrics, metricSum } from '@tokenmesh/metrics';

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

/** The dependency under the guard: counts the calls that reach it and answers as `mode` says. */
class Dependency {
  calls = 0;
  mode: 'answer' | 'fail' | 'hang' = 'answer';
  /** Set while a call waits on `release` (a probe held in flight). */
  private held: (() => void) | undefined;
  hold = false;
  readonly fn = (): Promise<string> => {
    this.calls++;
    if (this.mode === 'fail') return Promise.reject(new Error('connection refused'));
    if (this.mode === 'hang') return hung();
    if (this.hold) return new Promise((resolve) => (this.held = () => resolve('held answer')));
    return Promise.resolve('answer');
  };
  release(): void {
    this.held?.();
  }
}

describe('StoreGuard with a circuit breaker', () => {
  function breakerGuard(over: Partial<StoreGuardOptions> = {}) {
    const clock = { t: 0 };
    const registry = createMetrics('test');
    const { guard, log } = recorded({ breaker: { failures: 2, cooldownMs: 1000 }, metrics: { registry, dependency: 'cache' }, now: () => clock.t, ...over });
    const metric = (name: string, labels: Record<string, string> = {}) => metricSum(registry, name, { dependency: 'cache', ...labels });
    return { guard, log, clock, metric, dep: new Dependency() };
  }

  it('after N consecutive failures stops calling the store: fallbacks at once, counted as skipped, the outage told once', async () => {
    const { guard, log, dep, metric } = breakerGuard();
    expect(await metric('tokenmesh_store_circuit_open')).toBe(0);
    dep.mode = 'fail';
    for (let i = 0; i < 2; i++) expect(await guard.call(dep.fn, 'fallback')).toBe('fallback');
    expect([guard.down, await metric('tokenmesh_store_circuit_open')]).toEqual([true, 1]);
    // Hung now: a call that reached it would wait out the deadline and count a timeout.
    dep.mode = 'hang';
    for (let i = 0; i < 5; i++) expect(await guard.call(dep.fn, 'fallback')).toBe('fallback');
    expect(dep.calls).toBe(2);
    expect(await metric('tokenmesh_store_calls_skipped_total')).toBe(5);
    expect(await metric('tokenmesh_store_call_failures_total', { reason: 'error' })).toBe(2);
    expect(await metric('tokenmesh_store_call_failures_total', { reason: 'timeout' })).toBe(0);
    expect(log).toEqual(['failure:error', 'failure:error', 'outage:error:connection refused']);
  });

  it('fails closed at once while open, with StoreUnavailableError circuit-open naming the cool-down', async () => {
    const { guard, dep } = breakerGuard({ failure: 'closed' });
    dep.mode = 'fail';
    for (let i = 0; i < 2; i++) await expect(guard.call(dep.fn, 'unused')).rejects.toMatchObject({ failure: 'error' });
    const err = await guard.call(dep.fn, 'unused').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({
      failure: 'circuit-open',
      message: 'test cache: the store is not called for 1000 ms more, after 2 consecutive failures (circuit open)',
    });
    expect(dep.calls).toBe(2);
  });

  it('after the cool-down lets one probe through (others still skipped); its success closes the circuit and is told once', async () => {
    const { guard, log, dep, clock, metric } = breakerGuard();
    dep.mode = 'fail';
    await guard.call(dep.fn, null);
    await guard.call(dep.fn, null);
    clock.t = 1000;
    dep.mode = 'answer';
    dep.hold = true;
    const probe = guard.call(dep.fn, 'fallback');
    expect(await guard.call(dep.fn, 'fallback')).toBe('fallback');
    expect(dep.calls).toBe(3);
    dep.release();
    expect(await probe).toBe('held answer');
    dep.hold = false;
    expect([guard.down, await metric('tokenmesh_store_circuit_open')]).toEqual([false, 0]);
    expect(await guard.call(dep.fn, 'fallback')).toBe('answer');
    expect(log.slice(-1)).toEqual(['recovered']);
    expect(log.filter((l) => l.startsWith('outage'))).toHaveLength(1);
  });

  it('a probe that misses the deadline keeps the circuit open, for twice the cool-down', async () => {
    const { guard, dep, clock, metric } = breakerGuard();
    dep.mode = 'fail';
    await guard.call(dep.fn, null);
    await guard.call(dep.fn, null);
    clock.t = 1000;
    dep.mode = 'hang';
    expect(await guard.call(dep.fn, 'fallback')).toBe('fallback');
    expect(await metric('tokenmesh_store_call_failures_total', { reason: 'timeout' })).toBe(1);
    clock.t = 2999;
    dep.mode = 'answer';
    expect(await guard.call(dep.fn, 'fallback')).toBe('fallback');
    clock.t = 3000;
    expect(await guard.call(dep.fn, 'fallback')).toBe('answer');
    expect(dep.calls).toBe(4);
    expect(await metric('tokenmesh_store_circuit_open')).toBe(0);
  });

  it('guards of different dependencies share one registry with a series each', async () => {
    const registry = createMetrics('test');
    const a = new StoreGuard({ name: 'a', timeoutMs: 30, breaker: { failures: 1, cooldownMs: 1000 }, metrics: { registry, dependency: 'a' } });
    new StoreGuard({ name: 'b', timeoutMs: 30, breaker: { failures: 1, cooldownMs: 1000 }, metrics: { registry, dependency: 'b' } });
    await a.call(failing, null);
    expect([
      await metricSum(registry, 'tokenmesh_store_circuit_open', { dependency: 'a' }),
      await metricSum(registry, 'tokenmesh_store_circuit_open', { dependency: 'b' }),
    ]).toEqual([1, 0]);
  });
});
