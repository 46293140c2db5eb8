import { redactConfig } from '../src/redact';

describe('redactConfig', () => {
  it('hides URL passwords anywhere in a configuration, and nothing else', () => {
    const config = {
      redisUrl: 'redis://:s3cret@redis:6379/0',
      natsUrl: 'nats://user:pa55@nats:4222',
      workers: ['http://a:1', 'https://u:p@b:2/x'],
      plain: 'http://host:8080',
      port: 8080,
      nested: { url: 'rediss://default:pw@cache:6380' },
      notAUrl: 'user:pass@host',
      undefinedValue: undefined,
    };
    const out = JSON.stringify(redactConfig(config));
    for (const secret of ['s3cret', 'pa55', ':p@', ':pw@']) expect(out).not.toContain(secret);
    expect(redactConfig(config)).toEqual({
      redisUrl: 'redis://:***@redis:6379/0',
      natsUrl: 'nats://user:***@nats:4222',
      workers: ['http://a:1', 'https://u:***@b:2/x'],
      plain: 'http://host:8080',
      port: 8080,
      nested: { url: 'rediss://default:***@cache:6380' },
      notAUrl: 'user:pass@host',
      undefinedValue: undefined,
    });
  });
});
