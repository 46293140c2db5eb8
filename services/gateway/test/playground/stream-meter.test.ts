import { StreamMeter } from '../../web/playground/stream-meter';

describe('playground stream meter', () => {
  it('times the first token from sending, and tokens/s over the tokens after it', () => {
    const m = new StreamMeter(1000);
    expect([m.ttftMs, m.tokensPerSecond()]).toEqual([undefined, undefined]);
    m.chunk(1040);
    expect([m.ttftMs, m.tokensPerSecond()]).toEqual([40, undefined]);
    m.chunk(1050);
    m.chunk(1060);
    // 2 tokens after the first, in 20 ms.
    expect(m.tokensPerSecond()).toBe(100);
    // With usage's count at the end: 5 tokens in those 3 chunks (the page fell behind once).
    expect(m.tokensPerSecond(5)).toBe(200);
    expect(m.chunks).toBe(3);
  });
});
