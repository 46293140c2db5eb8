import { context, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

import { createLogger } from '../src';

describe('createLogger', () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ service: 'gateway', level: 'info', sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  beforeEach(() => (lines.length = 0));

  it('writes one JSON object per line with service, level, message and fields; drops levels below the minimum', () => {
    log.debug('hidden');
    log.child({ request_id: 'r1' }).warn('slow', { ms: 12, err: new Error('boom') });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', service: 'gateway', request_id: 'r1', msg: 'slow', ms: 12, err: { message: 'boom' } });
    expect(typeof lines[0]!['time']).toBe('string');
  });

  it("adds the active span's trace and span ids", () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const sc = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
      context.with(trace.setSpanContext(context.active(), sc), () => log.info('in span'));
      expect(lines[0]).toMatchObject({ trace_id: sc.traceId, span_id: sc.spanId });
    } finally {
      context.disable();
    }
  });
});
