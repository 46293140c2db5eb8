/**
 * A copy of a configuration safe to log: the password of any URL-shaped string (e.g.
 * redis://:secret@host:6379, nats://user:pass@host) becomes `***`. Every service logs its
 * effective configuration at start; credentials belong in neither logs nor log pipelines.
 */
export function redactConfig(value: unknown): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return value.map(redactConfig);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v)]));
  }
  return value;
}

function redactUrl(s: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*@/i.test(s)) return s;
  try {
    const u = new URL(s);
    if (!u.password) return s;
    u.password = '***';
    return u.toString();
  } catch {
    return s;
  }
}
