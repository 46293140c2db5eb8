import { QueueFullError, RequestQueue, type Queued } from '../src/request-queue';

const req = (id: string, priority = 0, deadline?: number, enqueuedAt = 0): Queued => ({ id, priority, deadline, enqueuedAt });

describe('RequestQueue', () => {
  it('orders by priority (lower first), FIFO within a level', () => {
    const q = new RequestQueue<Queued>(10, () => 1000);
    for (const [id, p] of [['a', 1], ['b', 0], ['c', 1], ['d', 0], ['e', 2]] as const) q.push(req(id, p));
    expect(q.take(() => true).map((r) => r.id)).toEqual(['b', 'd', 'a', 'c', 'e']);
  });

  it('rejects at once when full, with a retry hint', () => {
    const q = new RequestQueue<Queued>(2, () => 2500);
    q.push(req('a'));
    q.push(req('b'));
    expect(() => q.push(req('c'))).toThrow(QueueFullError);
    try {
      q.push(req('c'));
    } catch (e) {
      expect((e as QueueFullError).retryAfterMs).toBe(2500);
      expect((e as Error).message).toBe('the queue is full (2 requests waiting); retry after 3 s');
    }
  });

  it('drops requests whose deadline passed, and takes only while they fit without skipping the head', () => {
    const q = new RequestQueue<Queued>(10, () => 0);
    q.push(req('late', 0, 50));
    q.push(req('big'));
    q.push(req('small'));
    expect(q.expire(100).map((r) => r.id)).toEqual(['late']);
    expect(q.take((r) => r.id !== 'big')).toEqual([]);
    expect(q.remove('big')?.id).toBe('big');
    expect(q.take(() => true).map((r) => r.id)).toEqual(['small']);
  });

  it('knows its oldest request', () => {
    const q = new RequestQueue<Queued>(10, () => 0);
    q.push(req('x', 1, undefined, 5));
    q.push(req('y', 0, undefined, 9));
    expect(q.oldest()?.id).toBe('x');
  });
});
