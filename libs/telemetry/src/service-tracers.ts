import { type Context, trace, type Tracer } from '@opentelemetry/api';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, type ReadableSpan, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** Instrumentation scope of every span this library starts. */
export const SCOPE = '@tokenmesh/telemetry';

/**
 * Forwards to processors owned by the process-wide SDK. Per-service providers use it so all
 * services share one export pipeline (one batch, one connection); shutting a service's provider
 * down must not shut the shared exporter, so `shutdown` only flushes.
 */
class SharedSpanProcessor implements SpanProcessor {
  constructor(private readonly targets: readonly SpanProcessor[]) {}
  onStart(span: Span, parent: Context): void {
    for (const p of this.targets) p.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    for (const p of this.targets) p.onEnd(span);
  }
  async forceFlush(): Promise<void> {
    await Promise.all(this.targets.map((p) => p.forceFlush()));
  }
  shutdown(): Promise<void> {
    return this.forceFlush();
  }
}

/**
 * One TracerProvider per service name, each with the process resource plus its own
 * `service.name`. A span's resource is fixed by its provider, so this is the only way for several
 * services in one process (`npm start`) to appear as separate services in Jaeger.
 */
export class ServiceProviders {
  private readonly providers = new Map<string, BasicTracerProvider>();
  private readonly shared: SharedSpanProcessor;

  constructor(
    private readonly processName: string,
    private readonly resource: Resource,
    processors: readonly SpanProcessor[],
  ) {
    this.shared = new SharedSpanProcessor(processors);
  }

  /** The tracer for `serviceName`; the process's own name uses the globally registered provider. */
  tracer(serviceName: string): Tracer {
    if (serviceName === this.processName) return trace.getTracer(SCOPE);
    let provider = this.providers.get(serviceName);
    if (!provider) {
      const resource = this.resource.merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }));
      provider = new BasicTracerProvider({ resource, spanProcessors: [this.shared] });
      this.providers.set(serviceName, provider);
    }
    return provider.getTracer(SCOPE);
  }

  /** Flushes every per-service provider; the shared processors are shut down by the SDK. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.shutdown()));
    this.providers.clear();
  }
}
