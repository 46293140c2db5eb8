import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

type Env = Readonly<Record<string, string | undefined>>;

function setting(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/**
 * The span processors that OTEL_* variables ask for.
 *
 * - `OTEL_TRACES_EXPORTER`: `otlp` (default), `console`, `none`, comma-separated.
 * - `otlp` exports only when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
 *   is set: unlike the SDK default, a service without a collector must not retry against
 *   localhost:4318. The exporter itself reads the endpoint, headers, timeout and compression.
 * - The OTLP exporter always speaks OTLP/HTTP with JSON bodies (Jaeger and the collector accept it
 *   on 4318, and the test receiver can read it without a protobuf decoder); a different
 *   `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` gets a process warning rather than silence.
 * - Batching follows `OTEL_BSP_*` (e.g. `OTEL_BSP_SCHEDULE_DELAY=100` in integration tests).
 *
 * An empty result means "record and propagate, export nothing".
 */
export function spanProcessorsFromEnv(env: Env = process.env): SpanProcessor[] {
  const kinds = (setting(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp').split(',').map((s) => s.trim());
  if (kinds.includes('none')) return [];
  const processors: SpanProcessor[] = [];
  const endpoint = setting(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? setting(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (kinds.includes('otlp') && endpoint) {
    const protocol = setting(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? setting(env, 'OTEL_EXPORTER_OTLP_PROTOCOL');
    if (protocol && protocol !== 'http/json') {
      process.emitWarning(
        `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported by @tokenmesh/telemetry; ` + `exporting OTLP/HTTP JSON to ${endpoint}`,
        'TelemetryWarning',
      );
    }
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  }
  if (kinds.includes('console')) processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
  return processors;
}
