import { buildMesh, type Env, type MeshLauncher, type MeshServiceName } from '../src';

interface Fake {
  readonly name: MeshServiceName;
  readonly env: Env;
}

/** A launcher that records what it starts and stops; `failOn` fails that service's start. */
function fakeLauncher(opts: { failOn?: MeshServiceName; startMs?: number } = {}) {
  const events: string[] = [];
  const launcher: MeshLauncher<Fake> = {
    async start(name, env) {
      events.push(`start ${name}`);
      if (opts.startMs) await new Promise((r) => setTimeout(r, opts.startMs));
      if (name === opts.failOn) throw new Error(`${name} failed`);
      events.push(`up ${name}`);
      return { name, env };
    },
    url: (s) => `http://${s.name}:1`,
    httpUrl: (s) => `http://${s.name}:2`,
    async stop(s, graceMs) {
      events.push(`stop ${s.name}${graceMs === undefined ? '' : ` ${graceMs}`}`);
    },
  };
  return { launcher, events };
}

describe('buildMesh', () => {
  it('starts the services in order, each given the addresses of those it calls', async () => {
    const { launcher, events } = fakeLauncher();
    const mesh = await buildMesh(launcher, { env: { LOG_LEVEL: 'debug' } });
    expect(events).toEqual(['tokenizer', 'inference', 'feedback', 'router', 'gateway'].flatMap((n) => [`start ${n}`, `up ${n}`]));
    expect(mesh.router.env).toEqual({ LOG_LEVEL: 'debug', ROUTER_WORKERS: 'http://inference:1' });
    expect(mesh.gateway!.env).toEqual({
      LOG_LEVEL: 'debug',
      GATEWAY_TOKENIZER_URL: 'http://tokenizer:1',
      GATEWAY_ROUTER_URL: 'http://router:1',
      GATEWAY_FEEDBACK_URL: 'http://feedback:1',
    });
    expect(mesh.tokenizer.env).toEqual({ LOG_LEVEL: 'debug' });
    expect(mesh.all.map((s) => s.name)).toEqual(['tokenizer', 'inference', 'feedback', 'router', 'gateway']);
    await mesh.stop(500);
    expect(events.slice(-5)).toEqual(['stop gateway 500', 'stop router 500', 'stop feedback 500', 'stop inference 500', 'stop tokenizer 500']);
  });

  it('keeps ROUTER_WORKERS and GATEWAY_FEEDBACK_URL from the environment when given, and can leave out feedback and the gateway', async () => {
    const { launcher } = fakeLauncher();
    const mesh = await buildMesh(launcher, {
      env: { ROUTER_WORKERS: 'http://elsewhere:9', GATEWAY_FEEDBACK_URL: 'http://fb:2' },
      feedback: false,
      gateway: false,
    });
    expect(mesh.router.env['ROUTER_WORKERS']).toBe('http://elsewhere:9');
    expect([mesh.feedback, mesh.gateway]).toEqual([undefined, undefined]);
    expect(mesh.all.map((s) => s.name)).toEqual(['tokenizer', 'inference', 'router']);
    const withGateway = await buildMesh(launcher, { env: { GATEWAY_FEEDBACK_URL: 'http://fb:2' }, feedback: false });
    expect(withGateway.gateway!.env['GATEWAY_FEEDBACK_URL']).toBe('http://fb:2');
  });

  it('with batch: starts the batch service last, given the gateway REST address; one token for both when the gateway has API keys', async () => {
    const { launcher, events } = fakeLauncher();
    const plain = await buildMesh(launcher, { batch: true });
    expect(plain.batch!.env).toEqual({ BATCH_GATEWAY_URL: 'http://gateway:2' });
    expect(events.filter((e) => e.startsWith('start')).at(-1)).toBe('start batch');
    await plain.stop();
    expect(events.filter((e) => e.startsWith('stop'))[0]).toBe('stop batch');

    const keyed = await buildMesh(launcher, { batch: true, env: { GATEWAY_API_KEYS_FILE: '/keys.yaml' } });
    const token = keyed.batch!.env['BATCH_GATEWAY_TOKEN'];
    expect(token).toMatch(/^[\w-]{32}$/);
    expect(keyed.gateway!.env['GATEWAY_BATCH_TOKEN']).toBe(token);
    const given = await buildMesh(launcher, { batch: true, env: { GATEWAY_BATCH_TOKEN: 'chosen' } });
    expect([given.batch!.env['BATCH_GATEWAY_TOKEN'], given.gateway!.env['GATEWAY_BATCH_TOKEN']]).toEqual(['chosen', 'chosen']);
    // Without batch, nothing changes (and no token is made up).
    const without = await buildMesh(launcher, { env: { GATEWAY_API_KEYS_FILE: '/keys.yaml' } });
    expect(without.batch).toBeUndefined();
    expect(without.gateway!.env['GATEWAY_BATCH_TOKEN']).toBeUndefined();
  });

  it('concurrently: starts tokenizer, inference and feedback together', async () => {
    const { launcher, events } = fakeLauncher({ startMs: 10 });
    await buildMesh(launcher, { concurrently: true });
    expect(events.slice(0, 3)).toEqual(['start tokenizer', 'start inference', 'start feedback']);
    expect(events.slice(6)).toEqual(['start router', 'up router', 'start gateway', 'up gateway']);
  });

  it('stops what started (newest first, no grace) when a service fails to start, and throws its error', async () => {
    const { launcher, events } = fakeLauncher({ failOn: 'router' });
    await expect(buildMesh(launcher)).rejects.toThrow('router failed');
    expect(events.slice(-3)).toEqual(['stop feedback 0', 'stop inference 0', 'stop tokenizer 0']);
  });

  it('concurrently: waits for every start before stopping, so none is left running', async () => {
    const { launcher, events } = fakeLauncher({ failOn: 'tokenizer', startMs: 10 });
    await expect(buildMesh(launcher, { concurrently: true })).rejects.toThrow('tokenizer failed');
    expect(events.filter((e) => e.startsWith('stop')).sort()).toEqual(['stop feedback 0', 'stop inference 0']);
  });
});
