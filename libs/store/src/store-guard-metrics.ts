import { type Counter, createCounter, createGauge, type Gauge, type Registry } from '@tokenmesh/metrics';

import type { StoreFailure } from './store-guard';

/** One guard's view of the instruments every guard in a registry shares, labelled with its dependency. */
export interface StoreGuardMetrics {
  open(isOpen: boolean): void;
  skipped(): void;
  failed(reason: StoreFailure): void;
}

interface Instruments {
  readonly open: Gauge<'dependency'>;
  readonly skipped: Counter<'dependency'>;
  readonly failures: Counter<'dependency' | 'reason'>;
}

/** Several guards (rate limiter, cache) register into one registry: the instruments are declared once per registry. */
const declared = new WeakMap<Registry, Instruments>();

function instruments(registry: Registry): Instruments {
  let i = declared.get(registry);
  if (!i) {
    i = {
      open: createGauge(registry, {
        name: 'store_circuit_open',
        help: 'Whether calls to a store dependency are skipped after consecutive failures (1) or go through (0)',
        labelNames: ['dependency'] as const,
      }),
      skipped: createCounter(registry, {
        name: 'store_calls_skipped_total',
        help: 'Store calls not made because the circuit was open: answered at once by the fallback (fail open) or an error (fail closed)',
        labelNames: ['dependency'] as const,
      }),
      failures: createCounter(registry, {
        name: 'store_call_failures_total',
        help: 'Store calls that failed (error) or did not answer within the deadline (timeout)',
        labelNames: ['dependency', 'reason'] as const,
      }),
    };
    declared.set(registry, i);
  }
  return i;
}

/**
 * `tokenmesh_store_circuit_open{dependency}`, `tokenmesh_store_calls_skipped_total{dependency}` and
 * `tokenmesh_store_call_failures_total{dependency,reason}`, with every series present from the start.
 */
export function storeGuardMetrics(registry: Registry, dependency: string): StoreGuardMetrics {
  const { open, skipped, failures } = instruments(registry);
  open.set({ dependency }, 0);
  skipped.inc({ dependency }, 0);
  for (const reason of ['timeout', 'error'] satisfies StoreFailure[]) failures.inc({ dependency, reason }, 0);
  return {
    open: (isOpen) => open.set({ dependency }, isOpen ? 1 : 0),
    skipped: () => skipped.inc({ dependency }),
    failed: (reason) => failures.inc({ dependency, reason }),
  };
}
