import { Counter, type CounterConfiguration, Gauge, type GaugeConfiguration, Histogram, type HistogramConfiguration, type Registry } from 'prom-client';

import { METRIC_PREFIX } from './create-metrics';

/** `name` with the project prefix; names that already carry it are left alone. */
export function metricName(name: string): string {
  return name.startsWith(METRIC_PREFIX) ? name : METRIC_PREFIX + name;
}

/**
 * The three constructors below register into the given registry only (never the global one)
 * and apply the prefix, the two things every declaration would otherwise repeat.
 */

/** A counter named `tokenmesh_<name>` in `registry`. */
export function createCounter<T extends string>(registry: Registry, config: Omit<CounterConfiguration<T>, 'registers'>): Counter<T> {
  return new Counter<T>({ ...config, name: metricName(config.name), registers: [registry] });
}

/** A gauge named `tokenmesh_<name>` in `registry`. */
export function createGauge<T extends string>(registry: Registry, config: Omit<GaugeConfiguration<T>, 'registers'>): Gauge<T> {
  return new Gauge<T>({ ...config, name: metricName(config.name), registers: [registry] });
}

/** A histogram named `tokenmesh_<name>` in `registry`. */
export function createHistogram<T extends string>(registry: Registry, config: Omit<HistogramConfiguration<T>, 'registers'>): Histogram<T> {
  return new Histogram<T>({ ...config, name: metricName(config.name), registers: [registry] });
}
