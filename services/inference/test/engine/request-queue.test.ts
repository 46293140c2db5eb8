import { type Queued, QueueFullError, RequestQueue } from '../../src/engine/request-queue';

const req = (id: string, priority = 0, deadline?: number, enqueuedAt = 0, cost = 10): Queued => ({ id, priority, deadline, enqueuedAt, cost });
const bounds = (maxSize: number, maxTokens = 1e9) => ({ maxSize, maxTokens });

describe('RequestQueue', () => {
  it('orders by priority (lower first), FIFO within a level', () => {
    const q = new RequestQueue<Queued>(bounds(10), () => 1000);
    for (const [id, p] of [
      ['a', 1],
      ['b', 0],
      ['c', 1],
      ['d', 0],
      ['e', 2],
    ] as const)
      q.push(req(id, p));
    expect(q.ahead(0)).toBe(2);
    expect(q.ahead(1)).toBe(4);
    expect(q.ahead(5)).toBe(5);
    expect(q.ahead(-1)).toBe(0);
    expect(q.take(() => true).map((r) => r.id)).toEqual(['b', 'd', 'a', 'c', 'e']);
  });

  it('rejects at once when full, with a retry hint', () => {
    const q = new RequestQueue<Queued>(bounds(2), () => 2500);
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

  it('is bounded by the KV tokens its requests will reserve, not only by their number', () => {
    const q = new RequestQueue<Queued>(bounds(100, 50), () => 1000);
    // One request alone may cost more than the bound: it could not wait anywhere else.
    q.push(req('huge', 0, undefined, 0, 80));
    expect(() => q.push(req('small', 0, undefined, 0, 1))).toThrow('the queue is full (1 requests waiting would reserve 81 KV tokens, over 50)');
    expect(q.take(() => true).map((r) => r.id)).toEqual(['huge']);
    for (const id of ['a', 'b', 'c', 'd', 'e']) q.push(req(id));
    expect(q.cost).toBe(50);
    expect(() => q.push(req('f'))).toThrow(QueueFullError);
    q.remove('a');
    q.push(req('f'));
    expect(q.expire(0)).toEqual([]);
    expect(q.cost).toBe(50);
  });

  it('drops requests whose deadline passed, and takes only while they fit without skipping the head', () => {
    const q = new RequestQueue<Queued>(bounds(10), () => 0);
    q.push(req('late', 0, 50));
    q.push(req('big'));
    q.push(req('small'));
    expect(q.expire(100).map((r) => r.id)).toEqual(['late']);
    expect(q.take((r) => r.id !== 'big')).toEqual([]);
    expect(q.remove('big')?.id).toBe('big');
    expect(q.take(() => true).map((r) => r.id)).toEqual(['small']);
  });

  it('knows its oldest request', () => {
    const q = new RequestQueue<Queued>(bounds(10), () => 0);
    q.push(req('x', 1, undefined, 5));
    q.push(req('y', 0, undefined, 9));
    expect(q.oldest()?.id).toBe('x');
  });
});
