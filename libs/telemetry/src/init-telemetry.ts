import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { CompositePropagator, getBooleanFromEnv, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultResource, detectResources, envDetector, hostDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_NAMESPACE } from '@opentelemetry/semantic-conventions';

import { spanProcessorsFromEnv } from './env-span-processors';
import { defaultInstrumentations } from './instrumentations';
import { LazyTracer } from './lazy-tracer';
import { SCOPE, ServiceProviders } from './service-tracers';

export interface TelemetryOptions {
  /** `service.name` of the process; auto-instrumented grpc-js and http spans carry it. */
  serviceName: string;
  /** Replace the processors chosen from OTEL_* (e.g. an InMemorySpanExporter in tests). */
  spanProcessors?: SpanProcessor[];
  /** grpc-js and node:http auto-instrumentation; default true. */
  instrumentations?: boolean;
}

/** What `initTelemetry()` returns. */
export interface Telemetry {
  readonly serviceName: string;
  /**
   * Exports every ended span now. Span export can lag span end (batching, and resource
   * attributes such as host.id that resolve asynchronously), so tests call this before reading.
   */
  flush(): Promise<void>;
  /**
   * Exports what is buffered, then unregisters everything; safe to call more than once. Never
   * rejects: a failed export becomes a process warning. With the collector unreachable it takes
   * up to OTEL_EXPORTER_OTLP_TIMEOUT (default 10 s), so keep that below the shutdown grace period.
   */
  shutdown(): Promise<void>;
}

let current: { telemetry: Telemetry; providers: ServiceProviders | undefined } | undefined;

/** True when OTEL_* env asks for a metrics or logs pipeline (both are off by default here). */
const asked = (name: string) => (process.env[name]?.trim() ?? '') !== '';

/**
 * Starts the OpenTelemetry NodeSDK for this process: W3C trace-context + baggage propagation,
 * AsyncLocalStorage context, grpc-js and http instrumentation, and the exporters of
 * `spanProcessorsFromEnv()`. With no OTLP endpoint spans are still recorded and propagated but
 * go nowhere. `OTEL_SDK_DISABLED=true` makes everything a no-op. Metrics and logs stay off unless
 * OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER are set (the SDK's default OTLP metrics exporter
 * would retry against localhost:4318 and slow shutdown by seconds).
 *
 * Call it before anything requires @grpc/grpc-js or node:http users: instrumentation patches
 * modules as they load. Later calls return the first call's handle unchanged, so several
 * services booted in one process share one SDK; use `tracer(serviceName)` for their own spans.
 */
export function initTelemetry(options: TelemetryOptions): Telemetry {
  if (current) return current.telemetry;
  const disabled = getBooleanFromEnv('OTEL_SDK_DISABLED');
  const processors = disabled ? [] : (options.spanProcessors ?? spanProcessorsFromEnv());
  const resource = defaultResource()
    .merge(disabled ? null : detectResources({ detectors: [envDetector, processDetector, hostDetector] }))
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_NAMESPACE]: 'tokenmesh' }));
  const instrumentations = options.instrumentations === false || disabled ? [] : defaultInstrumentations();
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    // The SDK registers no TracerProvider without a processor, and then no span would be started
    // and no new span id propagated; a no-op processor keeps tracing alive with nothing to export.
    spanProcessors: processors.length > 0 ? processors : [new NoopSpanProcessor()],
    textMapPropagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
    instrumentations,
    ...(asked('OTEL_METRICS_EXPORTER') ? {} : { metricReaders: [] }),
    ...(asked('OTEL_LOGS_EXPORTER') ? {} : { logRecordProcessors: [] }),
  });
  sdk.start();
  const providers = disabled ? undefined : new ServiceProviders(options.serviceName, resource, processors);

  let stopping: Promise<void> | undefined;
  const telemetry: Telemetry = {
    serviceName: options.serviceName,
    async flush() {
      await Promise.all(processors.map((p) => p.forceFlush()));
    },
    shutdown() {
      stopping ??= (async () => {
        try {
          await providers?.shutdown();
          await sdk.shutdown();
        } catch (e) {
          // Telemetry is best effort: a collector that is down must not fail a service's shutdown.
          process.emitWarning(`telemetry flush failed: ${e instanceof Error ? e.message : String(e)}`, 'TelemetryWarning');
        } finally {
          for (const i of instrumentations) i.disable();
          // Unregistering lets a later initTelemetry() (tests) register afresh.
          trace.disable();
          propagation.disable();
          context.disable();
          if (current?.telemetry === telemetry) current = undefined;
        }
      })();
      return stopping;
    },
  };
  current = { telemetry, providers };
  return telemetry;
}

/**
 * A tracer whose spans carry `service.name = serviceName`: one provider per name (created on
 * first use, sharing the process's exporters), so services booted together in one process still
 * show up separately in Jaeger. Resolved on every span, so it may be created before
 * `initTelemetry()`; before it (or after shutdown, or with OTEL_SDK_DISABLED) spans are no-ops.
 *
 * Limits: only spans started through this tracer get the service's name. Auto-instrumented
 * grpc-js/http spans, and spans from `trace.getTracer()`, carry the process's `serviceName`.
 * Sampling follows OTEL_TRACES_SAMPLER for every provider alike.
 */
export function tracer(serviceName: string): Tracer {
  return new LazyTracer(() => current?.providers?.tracer(serviceName) ?? trace.getTracer(SCOPE));
}
