import { ConfigError, EnvReader } from '../src';

describe('EnvReader', () => {
  it('parses typed values with defaults', () => {
    const r = new EnvReader({ PORT: '8080', RATIO: '0.5', ON: 'yes', LIST: 'a, b,,c', MODE: 'p2c', URL: 'nats://127.0.0.1:4222' });
    expect(r.int('PORT', { default: 0, min: 0, max: 65535 })).toBe(8080);
    expect(r.int('MISSING', { default: 7 })).toBe(7);
    expect(r.int('MISSING', { default: undefined })).toBeUndefined();
    expect(r.float('RATIO', { default: 1 })).toBe(0.5);
    expect(r.bool('ON', false)).toBe(true);
    expect(r.list('LIST', [])).toEqual(['a', 'b', 'c']);
    expect(r.oneOf('MODE', ['rr', 'p2c'] as const, 'rr')).toBe('p2c');
    expect(r.url('URL')).toBe('nats://127.0.0.1:4222');
    expect(r.url('URL', ['nats', 'tls'])).toBe('nats://127.0.0.1:4222');
    expect(r.str('EMPTY', 'dflt')).toBe('dflt');
    expect(() => r.done()).not.toThrow();
  });

  it('reports every problem at once, naming the variable and the value', () => {
    const r = new EnvReader({ PORT: '80a', THREADS: '0', FLAG: 'maybe', MODE: 'x', URL: 'not a url', F: 'NaN', UP: 'router:1', UPS: 'http://a:1,ftp://b' });
    r.int('PORT', { default: 0 });
    r.int('THREADS', { default: 1, min: 1, max: 64 });
    r.bool('FLAG', false);
    r.oneOf('MODE', ['a', 'b'] as const, 'a');
    r.url('URL');
    r.float('F', { default: 1 });
    r.url('UP', ['http', 'https']);
    expect(r.urlList('UPS', [], ['http'])).toEqual(['http://a:1']);
    r.required('MODEL_DIRS', 'comma-separated model directories');
    r.check(false, 'MAX_PREFILL_TOKENS (9) must be <= MAX_TOTAL_TOKENS (8)');
    let err: unknown;
    try {
      r.done();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'PORT must be an integer, got "80a"',
      'THREADS must be in 1..64, got 0',
      'FLAG must be true or false, got "maybe"',
      'MODE must be one of a, b, got "x"',
      'URL must be an absolute URL, got "not a url"',
      'F must be a number, got "NaN"',
      'UP must be a http or https URL, got "router:1"',
      'UPS must be a http URL, got "ftp://b"',
      'MODEL_DIRS is required (comma-separated model directories)',
      'MAX_PREFILL_TOKENS (9) must be <= MAX_TOTAL_TOKENS (8)',
    ]);
    expect((err as Error).message).toContain('PORT must be an integer');
  });
});
