function hex(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * A new W3C trace context for one call, made in the page (as OpenTelemetry's web instrumentation
 * does): the gateway continues this trace, so the id shown is the one to look up in Jaeger.
 */
export function newTraceparent(): { readonly traceId: string; readonly header: string } {
  const traceId = hex(16);
  return { traceId, header: `00-${traceId}-${hex(8)}-01` };
}
