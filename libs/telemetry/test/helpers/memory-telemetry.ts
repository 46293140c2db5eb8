import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

import { initTelemetry, type Telemetry } from '../../src';

/** initTelemetry with every finished span kept in memory instead of exported. */
export function memoryTelemetry(serviceName = 'test'): {
  telemetry: Telemetry;
  /** The spans ended so far, once exported. */
  spans(): Promise<ReadableSpan[]>;
  reset(): void;
} {
  const exporter = new InMemorySpanExporter();
  const telemetry = initTelemetry({
    serviceName,
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    instrumentations: false,
  });
  return {
    telemetry,
    spans: async () => {
      await telemetry.flush();
      return exporter.getFinishedSpans();
    },
    reset: () => exporter.reset(),
  };
}

/** The one finished span called `name` (of `kind`, when given); fails the test otherwise. */
export function only(spans: ReadableSpan[], name: string, kind?: number): ReadableSpan {
  const found = spans.filter((s) => s.name === name && (kind === undefined || s.kind === kind));
  if (found.length !== 1) {
    throw new Error(`expected one span ${name}, got ${found.length} among ${spans.map((s) => s.name).join(', ')}`);
  }
  return found[0]!;
}

export const ms = (t: [number, number]): number => t[0] * 1e3 + t[1] / 1e6;
export const serviceOf = (s: ReadableSpan): unknown => s.resource.attributes['service.name'];
