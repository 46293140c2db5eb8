import { trace } from '@opentelemetry/api';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

/** Structured logger: one JSON object per line, with the active span's trace and span ids. */
export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` (e.g. `{ request_id }`) to every line. */
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  service: string;
  level?: Level;
  /** Where lines go; stdout by default. */
  sink?: (line: string) => void;
}

function errorFields(v: unknown): unknown {
  return v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v;
}

class JsonLogger implements Logger {
  constructor(
    private readonly min: number,
    private readonly base: Fields,
    private readonly sink: (line: string) => void,
  ) {}

  private write(level: Level, msg: string, fields?: Fields): void {
    if (RANK[level] < this.min) return;
    const line: Fields = { time: new Date().toISOString(), level, ...this.base, msg };
    for (const [k, v] of Object.entries(fields ?? {})) line[k] = errorFields(v);
    const span = trace.getActiveSpan()?.spanContext();
    if (span && trace.isSpanContextValid(span)) {
      line['trace_id'] = span.traceId;
      line['span_id'] = span.spanId;
    }
    this.sink(JSON.stringify(line));
  }

  debug(msg: string, fields?: Fields): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.write('error', msg, fields);
  }
  child(fields: Fields): Logger {
    return new JsonLogger(this.min, { ...this.base, ...fields }, this.sink);
  }
}

/** Level from the argument, else LOG_LEVEL, else info. */
export function createLogger({ service, level, sink }: LoggerOptions): Logger {
  const env = process.env['LOG_LEVEL'] as Level | undefined;
  const chosen: Level = level ?? (env && env in RANK ? env : 'info');
  return new JsonLogger(RANK[chosen], { service }, sink ?? ((l) => process.stdout.write(l + '\n')));
}
