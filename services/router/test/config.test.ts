import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadConfig } from '../src/config';

describe('router config', () => {
  it('needs static workers or NATS to find them, and says how to give them', () => {
    expect(() => loadConfig({})).toThrow('set ROUTER_WORKERS (comma-separated worker URLs, e.g. http://127.0.0.1:50054) or NATS_URL');
    expect(() => loadConfig({ ROUTER_WORKERS: 'localhost:1' })).toThrow('ROUTER_WORKERS must be a http or https URL, got "localhost:1"');
    expect(loadConfig({ ROUTER_WORKERS: 'http://127.0.0.1:1, http://127.0.0.1:2' }).workers).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    expect(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222' })).toMatchObject({
      workers: [],
      natsUrl: 'nats://127.0.0.1:4222',
      strategy: 'p2c',
      retryBudget: 0.2,
      ejectionFailures: 5,
      ejectionBaseMs: 30_000,
      maxEjectedPercent: 50,
      frameRelay: true,
    });
    expect(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', ROUTER_FRAME_RELAY: 'false' }).frameRelay).toBe(false);
  });

  it('names every bad variable', () => {
    const env = { NATS_URL: 'http://x', ROUTER_STRATEGY: 'random', ROUTER_RETRY_BUDGET: '2', ROUTER_MISSED_HEARTBEATS: '0', ROUTER_MAX_EJECTED_PERCENT: '101' };
    let message = '';
    try {
      loadConfig(env);
    } catch (e) {
      message = (e as Error).message;
    }
    for (const name of Object.keys(env)) expect(message).toContain(name);
    expect(message).toContain('ROUTER_STRATEGY must be one of round-robin, weighted, least-connections, p2c, consistent-hash, got "random"');
  });

  it('validates the traffic config file at start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'router-config-'));
    try {
      const file = join(dir, 'traffic.yaml');
      writeFileSync(file, 'models:\n  tinygpt:\n    variants:\n      - { name: a, model: tinygpt@1, weight: ten }\n');
      expect(() => loadConfig({ ROUTER_WORKERS: 'http://127.0.0.1:1', ROUTER_CONFIG_FILE: file })).toThrow(
        /ROUTER_CONFIG_FILE: .*models\.tinygpt\.variants\[0\]\.weight must be a number >= 0, got "ten"/,
      );
      expect(() => loadConfig({ ROUTER_WORKERS: 'http://127.0.0.1:1', ROUTER_CONFIG_FILE: join(dir, 'missing.yaml') })).toThrow(
        /ROUTER_CONFIG_FILE: .*missing\.yaml/,
      );
      writeFileSync(file, 'strategy: least-connections\nmodels: {}\n');
      expect(loadConfig({ ROUTER_WORKERS: 'http://127.0.0.1:1', ROUTER_CONFIG_FILE: file }).trafficConfigFile).toBe(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
