import { HealthReporter, ServingStatus } from '../src';

const { SERVING, NOT_SERVING, SERVICE_UNKNOWN } = ServingStatus;

async function take<T>(it: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push((await it.next()).value as T);
  return out;
}

describe('HealthReporter', () => {
  it('gives a watcher the current status, then changes only, skipping repeats', async () => {
    const h = new HealthReporter();
    h.set('a', SERVING);
    const watch = h.watch('a', new AbortController().signal);
    const first = take(watch, 1);
    h.set('a', SERVING);
    h.set('b', NOT_SERVING);
    h.set('a', NOT_SERVING);
    h.set('a', SERVING);
    expect([...(await first), ...(await take(watch, 2))]).toEqual([SERVING, NOT_SERVING, SERVING]);
    await watch.return(undefined);
  });

  it('ends a watch when its signal aborts', async () => {
    const h = new HealthReporter();
    const ac = new AbortController();
    const watch = h.watch('x', ac.signal);
    expect(await take(watch, 1)).toEqual([SERVICE_UNKNOWN]);
    const next = watch.next();
    ac.abort();
    expect(await next).toEqual({ done: true, value: undefined });
  });

  it('on shutdown marks everything NOT_SERVING, ends watches and ignores later updates', async () => {
    const h = new HealthReporter();
    h.set('', SERVING);
    h.set('svc', SERVING);
    const watch = h.watch('svc', new AbortController().signal);
    await take(watch, 1);
    h.shutdown();
    h.set('svc', SERVING);
    expect(await take(watch, 1)).toEqual([NOT_SERVING]);
    expect(await watch.next()).toEqual({ done: true, value: undefined });
    expect([...h.list()]).toEqual([
      ['', NOT_SERVING],
      ['svc', NOT_SERVING],
    ]);
    expect(h.shuttingDown).toBe(true);
  });
});
