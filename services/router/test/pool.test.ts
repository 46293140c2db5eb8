import { createClient, createRouterTransport } from '@connectrpc/connect';
import { GenerationService, Health, HealthCheckResponse_ServingStatus as ServingStatus } from '@tokenmesh/proto';
import { waitFor } from '@tokenmesh/testing';

import { monitorWorker, OutlierDetector, RetryBudget, WorkerPool } from '../src/pool';
import { beat, fakePool } from './fake-workers';

describe('outlier ejection', () => {
  const state = () => ({ consecutiveFailures: 0, ejections: 0, ejectedUntil: 0 });

  it('ejects after 5 consecutive failures, for 30 s times the number of ejections', () => {
    const d = new OutlierDetector();
    const s = state();
    for (let i = 0; i < 4; i++) expect(d.failure(s, 0, 4, 0)).toBe(false);
    expect(d.failure(s, 1000, 4, 0)).toBe(true);
    expect(d.isEjected(s, 30_999)).toBe(true);
    expect(d.isEjected(s, 31_000)).toBe(false);
    for (let i = 0; i < 4; i++) d.failure(s, 40_000, 4, 0);
    expect(d.failure(s, 40_000, 4, 0)).toBe(true);
    expect(d.isEjected(s, 40_000 + 59_999)).toBe(true);
    expect(d.isEjected(s, 40_000 + 60_000)).toBe(false);
  });

  it('a success ends the streak', () => {
    const d = new OutlierDetector();
    const s = state();
    for (let i = 0; i < 4; i++) d.failure(s, 0, 4, 0);
    d.success(s);
    for (let i = 0; i < 4; i++) expect(d.failure(s, 0, 4, 0)).toBe(false);
  });

  it('never ejects more than half the pool', () => {
    const d = new OutlierDetector();
    const s = state();
    for (let i = 0; i < 10; i++) expect(d.failure(s, 0, 4, 2)).toBe(false);
    for (let i = 0; i < 10; i++) expect(d.failure(state(), 0, 1, 0)).toBe(false);
  });
});

describe('retry budget', () => {
  it('allows retries up to 20% of recent requests', () => {
    let now = 0;
    const b = new RetryBudget(0.2, 10_000, 3, () => now);
    for (let i = 0; i < 100; i++) b.request();
    let granted = 0;
    while (b.tryRetry()) granted++;
    expect(granted).toBe(20);
    now += 11_000;
    for (let i = 0; i < 10; i++) b.request();
    granted = 0;
    while (b.tryRetry()) granted++;
    // A quiet router still gets its minimum.
    expect(granted).toBe(3);
  });

  it('forgets requests older than the window', () => {
    let now = 0;
    const b = new RetryBudget(0.2, 10_000, 0, () => now);
    for (let i = 0; i < 50; i++) b.request();
    now = 10_500;
    expect(b.tryRetry()).toBe(false);
  });
});

describe('worker pool', () => {
  it('stops using a worker that missed 3 heartbeats, and forgets it later', () => {
    let now = 0;
    const pool = fakePool({ a: {}, b: {} }, { heartbeatMs: 1000, now: () => now });
    pool.announce(beat('a'));
    pool.announce(beat('b'));
    now = 2500;
    pool.announce(beat('b'));
    now = 3001;
    expect(pool.eligible('tinygpt').map((w) => w.id)).toEqual(['b']);
    expect(pool.excluded(pool.get('a')!)).toBe('stale');
    pool.announce(beat('a'));
    expect(
      pool
        .eligible('tinygpt')
        .map((w) => w.id)
        .sort(),
    ).toEqual(['a', 'b']);
    now = 40_000;
    pool.announce(beat('b'));
    pool.sweep();
    expect(pool.all.map((w) => w.id)).toEqual(['b']);
  });

  it('keeps a SERVING worker while the bus is down, and counts staleness again from when it is back', () => {
    let now = 0;
    const pool = fakePool({ a: {}, b: {} }, { heartbeatMs: 1000, now: () => now });
    pool.announce(beat('a'));
    pool.announce(beat('b'));
    pool.get('a')!.healthy = true;
    pool.heartbeatsFlowing(false);
    now = 40_000;
    pool.sweep();
    // b's health is unknown, so its silence still counts: stale, then forgotten.
    expect(pool.all.map((w) => w.id)).toEqual(['a']);
    expect(pool.eligible('tinygpt').map((w) => w.id)).toEqual(['a']);
    expect(pool.models().map((m) => m.workers)).toEqual([1]);
    pool.heartbeatsFlowing(true);
    now = 43_000;
    expect(pool.eligible('tinygpt').map((w) => w.id)).toEqual(['a']);
    // The bus is back and a beats no more: the usual three periods.
    now = 43_001;
    expect(pool.excluded(pool.get('a')!)).toBe('stale');
  });

  it('knows a model some worker served since start, even after its workers left', () => {
    const pool = fakePool({ a: {} });
    pool.announce(beat('a', ['tinygpt@1']));
    pool.remove('a');
    expect(pool.knows('tinygpt')).toBe(true);
    expect(pool.knows('tinygpt@1')).toBe(true);
    expect(pool.knows('tinygpt@2')).toBe(false);
  });

  it('gives a draining, ejected or unhealthy worker no new requests', () => {
    const pool = fakePool({ a: {}, b: {}, c: {}, d: {} });
    for (const id of ['a', 'b', 'c', 'd']) pool.announce(beat(id));
    pool.announce(beat('a', ['tinygpt@1'], { draining: true }));
    pool.get('b')!.healthy = false;
    for (let i = 0; i < 5; i++) pool.outcome(pool.get('c')!, false);
    expect(pool.eligible('tinygpt').map((w) => w.id)).toEqual(['d']);
    expect(['a', 'b', 'c'].map((id) => pool.excluded(pool.get(id)!))).toEqual(['draining', 'unhealthy', 'ejected']);
  });

  it('matches a bare name to any version and name@version exactly', () => {
    const pool = fakePool({ a: {}, b: {} });
    pool.announce(beat('a', ['tinygpt@1', 'tinyllama@1']));
    pool.announce(beat('b', ['tinygpt@2']));
    expect(pool.eligible('tinygpt').length).toBe(2);
    expect(pool.eligible('tinygpt@2').map((w) => w.id)).toEqual(['b']);
    expect(pool.eligible('other')).toEqual([]);
    expect(pool.knows('tinyllama')).toBe(true);
    expect(pool.knows('other')).toBe(false);
  });

  it('lists what live, non-draining workers serve with worker counts, summed capacity (unknown while one has not said), an adapter’s parent and what they loaded', () => {
    const pool = fakePool({ a: {}, b: {}, c: {} });
    pool.announce(beat('a', ['tinygpt@1', 'tinyllama@1']));
    pool.announce(beat('b', ['tinygpt@1']));
    pool.announce(beat('c', ['tinygpt@2'], { draining: true }));
    pool.announce(beat('a', ['tinygpt@1', 'tinyllama@1', 'tinygpt-chat@1']));
    pool.get('a')!.served.set('tinygpt@1', { contextLength: 512, capacity: 48, parent: '', digest: 'd2' });
    pool.get('a')!.served.set('tinyllama@1', { contextLength: 0, capacity: 40, parent: '' });
    pool.get('a')!.served.set('tinygpt-chat@1', { contextLength: 512, capacity: 48, parent: 'tinygpt', digest: 'c1' });
    pool.get('c')!.served.set('tinygpt@2', { contextLength: 512, capacity: 48, parent: '' });
    expect(pool.models()).toEqual([
      { name: 'tinygpt', version: '1', contextLength: 512, workers: 2, capacity: 0, parent: '', digest: 'd2' },
      { name: 'tinyllama', version: '1', contextLength: 0, workers: 1, capacity: 40, parent: '', digest: '' },
      { name: 'tinygpt-chat', version: '1', contextLength: 512, workers: 1, capacity: 48, parent: 'tinygpt', digest: 'c1' },
    ]);
    // Two workers that loaded different files under one name@version: both digests, in order.
    pool.get('b')!.served.set('tinygpt@1', { contextLength: 512, capacity: 16, parent: '', digest: 'd1' });
    expect(pool.models()[0]).toMatchObject({ workers: 2, capacity: 64, digest: 'd1,d2' });
  });

  it('a replaced or forgotten worker keeps its connection until its calls in flight end', () => {
    const closed: string[] = [];
    const pool = new WorkerPool({ connect: (address) => ({ client: undefined as never, close: () => closed.push(address) }) });
    const w = pool.addStatic('http://w:1');
    w.acquire();
    pool.announce({ ...beat('w-1'), address: 'http://w:1' });
    expect(pool.all.map((x) => x.id)).toEqual(['w-1']);
    expect(closed).toEqual([]);
    w.release();
    expect(closed).toEqual(['http://w:1']);
    pool.remove('w-1');
    expect(closed).toEqual(['http://w:1', 'http://w:1']);
  });

  it('a heartbeat from a statically listed address replaces the static entry', () => {
    const pool = fakePool({ 'http://w:1': {} });
    pool.addStatic('http://w:1');
    pool.announce({ ...beat('w-1'), address: 'http://w:1' });
    expect(pool.all.map((w) => [w.id, w.isStatic])).toEqual([['w-1', false]]);
  });

  it('a worker that comes back at a new address gets a new connection', () => {
    const pool = fakePool({ x: {}, y: {} });
    const orig = pool.announce({ ...beat('w'), address: 'x' });
    expect(pool.announce({ ...beat('w'), address: 'x' })).toBe(orig);
    const moved = pool.announce({ ...beat('w'), address: 'y' });
    expect(moved).not.toBe(orig);
    expect(pool.all.map((w) => w.address)).toEqual(['y']);
  });

  it('asks for a worker’s models again when its heartbeat carries a new catalog revision (an adapter loaded or reloaded)', async () => {
    const reads: number[] = [];
    let pool: WorkerPool | undefined;
    const transport = createRouterTransport((r) => {
      r.service(GenerationService, {
        listServedModels: () => {
          reads.push(pool!.get('w')!.announcement.revision!);
          return { models: [{ name: 'tinygpt', version: '1' }] };
        },
        async *generate() {},
      });
      r.service(Health, {
        check: () => ({ status: ServingStatus.SERVING }),
        async *watch(_req, ctx) {
          yield { status: ServingStatus.SERVING };
          await new Promise((done) => ctx.signal.addEventListener('abort', done));
        },
      });
    });
    // Without a wake-up the monitor would look again only after a minute.
    pool = new WorkerPool({
      connect: () => ({ client: createClient(GenerationService, transport), close: () => undefined }),
      attach: (w) => monitorWorker(w, transport, { maxBackoffMs: 60_000 }),
      heartbeatMs: 3_600_000,
    });
    try {
      pool.announce(beat('w', ['tinygpt@1'], { revision: 1 }));
      await waitFor(() => reads.length === 1);
      // Past its short retry delay, the monitor is in its long wait.
      await new Promise((r) => setTimeout(r, 400));
      pool.announce(beat('w', ['tinygpt@1'], { revision: 1 }));
      // Same names, another revision: a reload under the same name, with another digest.
      pool.announce(beat('w', ['tinygpt@1'], { revision: 2 }));
      pool.announce(beat('w', ['tinygpt@1'], { revision: 2 }));
      await waitFor(() => reads.length === 2, { timeoutMs: 3000 });
      await new Promise((r) => setTimeout(r, 100));
      expect(reads).toEqual([1, 2]);
    } finally {
      pool.close();
    }
  });
});
