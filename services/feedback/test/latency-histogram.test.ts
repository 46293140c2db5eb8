import { bucketField, quantile } from '../src/latency-histogram';

describe('latency histogram', () => {
  it('puts latencies in the first bucket whose bound is not below them', () => {
    expect([0, 25, 26, 999, 1000, 60_001].map(bucketField)).toEqual([
      'latency_le_25',
      'latency_le_25',
      'latency_le_50',
      'latency_le_1000',
      'latency_le_1000',
      'latency_le_inf',
    ]);
  });

  it('interpolates quantiles inside buckets, as histogram_quantile', () => {
    // 10 observations in (50, 100], 10 in (100, 250].
    const h = { latency_le_100: '10', latency_le_250: '10' };
    expect(quantile(0.5, h)).toBe(100);
    expect(quantile(0.25, h)).toBe(75);
    expect(quantile(0.99, h)).toBeCloseTo(100 + (150 * (19.8 - 10)) / 10);
    expect(quantile(0.5, {})).toBe(0);
    expect(quantile(0.99, { latency_le_inf: '3' })).toBe(60_000);
  });
});
