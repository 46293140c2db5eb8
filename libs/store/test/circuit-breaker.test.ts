import { CircuitBreaker } from '../src';

/** A breaker on a clock the test moves. */
function breaker(failures = 3, cooldownMs = 1000, maxCooldownMs = 4000) {
  const clock = { t: 0 };
  return { clock, b: new CircuitBreaker({ failures, cooldownMs, maxCooldownMs }, () => clock.t) };
}

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures; a success in between starts the count again', () => {
    const { b } = breaker(3);
    expect([b.failed(false), b.failed(false), b.succeeded(), b.failed(false), b.failed(false)]).toEqual([false, false, false, false, false]);
    expect(b.state).toBe('closed');
    expect(b.admit()).toBe('call');
    expect(b.failed(false)).toBe(true);
    expect([b.state, b.failures]).toEqual(['open', 3]);
  });

  it('skips calls for the cool-down, then lets exactly one probe through; its success closes the circuit', () => {
    const { b, clock } = breaker(1, 1000);
    b.failed(false);
    clock.t = 999;
    expect([b.admit(), b.retryInMs]).toEqual(['skip', 1]);
    clock.t = 1000;
    expect([b.admit(), b.admit(), b.state]).toEqual(['probe', 'skip', 'half-open']);
    expect(b.succeeded()).toBe(true);
    expect([b.state, b.admit(), b.failures]).toEqual(['closed', 'call', 0]);
  });

  it('doubles the cool-down while probes fail, up to the maximum, and starts again from the first after closing', () => {
    const { b, clock } = breaker(1, 1000, 4000);
    b.failed(false);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      clock.t += b.retryInMs;
      expect(b.admit()).toBe('probe');
      b.failed(true);
      waits.push(b.retryInMs);
    }
    expect(waits).toEqual([2000, 4000, 4000, 4000]);
    clock.t += b.retryInMs;
    expect(b.admit()).toBe('probe');
    b.succeeded();
    b.failed(false);
    expect(b.retryInMs).toBe(1000);
  });

  it('ignores the failure of a call begun before the circuit opened, and a late success closes it', () => {
    const { b, clock } = breaker(2, 1000);
    b.failed(false);
    b.failed(false);
    expect(b.failed(false)).toBe(false);
    expect(b.retryInMs).toBe(1000);
    clock.t = 1000;
    expect(b.admit()).toBe('probe');
    // A straggler's failure does not count as the probe's.
    b.failed(false);
    expect(b.state).toBe('half-open');
    expect(b.succeeded()).toBe(true);
  });

  it('with failures 0 never opens', () => {
    const { b } = breaker(0);
    for (let i = 0; i < 100; i++) expect(b.failed(false)).toBe(false);
    expect(b.admit()).toBe('call');
  });

  it('refuses settings that cannot work', () => {
    expect(() => new CircuitBreaker({ failures: -1, cooldownMs: 10 })).toThrow(/failures/);
    expect(() => new CircuitBreaker({ failures: 3, cooldownMs: 0 })).toThrow(/cooldownMs/);
  });
});
