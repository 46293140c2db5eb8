import { resolve } from 'node:path';

import { ConfigError } from '@tokenmesh/config';

import { DEFAULT_ADAPTER_DIRS, DEFAULT_MODEL_DIRS, loadConfig } from '../src/config';

/** The problems `loadConfig(env)` reports, all at once; undefined when it accepts `env`. */
function problemsOf(env: NodeJS.ProcessEnv): readonly string[] | undefined {
  try {
    loadConfig(env);
  } catch (e) {
    return (e as ConfigError).problems;
  }
  return undefined;
}

describe('inference config', () => {
  it("defaults to the committed models on CPU, tinygpt's int8 version first (a bare name is the last: fp32)", () => {
    const c = loadConfig({});
    expect(c.models).toEqual([
      { name: 'tinygpt', version: 'int8', dir: DEFAULT_MODEL_DIRS[0] },
      { name: 'tinygpt', version: '1', dir: DEFAULT_MODEL_DIRS[1] },
      { name: 'tinyllama', version: '1', dir: DEFAULT_MODEL_DIRS[2] },
    ]);
    expect(c).toMatchObject({ port: 50054, intraOpThreads: 1, executionProviders: ['cpu'], decodeExport: true });
  });

  it('INFERENCE_DECODE_EXPORT=false decodes with the Optimum export; a non-boolean is named', () => {
    expect(loadConfig({ INFERENCE_DECODE_EXPORT: 'false' }).decodeExport).toBe(false);
    expect(problemsOf({ INFERENCE_DECODE_EXPORT: 'sometimes' })?.join('\n')).toMatch(/INFERENCE_DECODE_EXPORT/);
  });

  it('serves tinygpt’s committed adapters with the default models only; INFERENCE_ADAPTERS names others, or `none`', () => {
    expect(loadConfig({}).adapters).toEqual(DEFAULT_ADAPTER_DIRS);
    expect(DEFAULT_ADAPTER_DIRS.map((d) => d.split('/').at(-1))).toEqual(['tinygpt-chat', 'tinygpt-jargon']);
    expect(loadConfig({ INFERENCE_MODELS: 'models/tinygpt' }).adapters).toEqual([]);
    expect(loadConfig({ INFERENCE_MODELS: 'models/tinygpt', INFERENCE_ADAPTERS: 'models/tinygpt-chat' }).adapters).toEqual([resolve('models/tinygpt-chat')]);
    expect(loadConfig({ INFERENCE_ADAPTERS: 'none' }).adapters).toEqual([]);
  });

  it('INFERENCE_ADMIN_TOKEN: run-time adapter changes off without one; a short token is named', () => {
    expect(loadConfig({}).adminToken).toBeUndefined();
    expect(loadConfig({ INFERENCE_ADMIN_TOKEN: 'operators-token-0123' }).adminToken).toBe('operators-token-0123');
    expect(problemsOf({ INFERENCE_ADMIN_TOKEN: 'short' })?.join('\n')).toMatch(/INFERENCE_ADMIN_TOKEN must be at least 16 characters/);
  });

  it('reads name@version=path entries and provider lists', () => {
    const c = loadConfig({ INFERENCE_MODELS: 'models/tinygpt, tinyllama@2=models/tinyllama', INFERENCE_EXECUTION_PROVIDERS: 'cuda,cpu', INFERENCE_PORT: '0' });
    expect(c.models).toEqual([
      { name: 'tinygpt', version: '1', dir: resolve('models/tinygpt') },
      { name: 'tinyllama', version: '2', dir: resolve('models/tinyllama') },
    ]);
    expect(c.executionProviders).toEqual(['cuda', 'cpu']);
  });

  it('names every bad variable at once', () => {
    expect(problemsOf({ INFERENCE_MODELS: 'a@b@c=x', INFERENCE_EXECUTION_PROVIDERS: 'tpu', INFERENCE_INTRA_OP_THREADS: '0', INFERENCE_PORT: 'http' })).toEqual([
      'INFERENCE_MODELS: model entry "a@b@c=x": expected "path" or "name@version=path"',
      'INFERENCE_EXECUTION_PROVIDERS must list some of cpu, cuda, dml, coreml, webgpu, got "tpu"',
      'INFERENCE_PORT must be an integer, got "http"',
      'INFERENCE_INTRA_OP_THREADS must be in 1..256, got 0',
      'INFERENCE_MODELS must name at least one model',
    ]);
  });

  it('reads engine limits and checks the prefill budget against the KV budget', () => {
    expect(loadConfig({ INFERENCE_MAX_BATCH_SIZE: '8', INFERENCE_MAX_QUEUE_DELAY_MS: '5' }).limits).toMatchObject({ maxBatchSize: 8, maxQueueDelayMs: 5 });
    expect(() => loadConfig({ INFERENCE_MAX_BATCH_PREFILL_TOKENS: '9000', INFERENCE_MAX_BATCH_TOTAL_TOKENS: '8000' })).toThrow(
      'INFERENCE_MAX_BATCH_PREFILL_TOKENS (9000) must be <= INFERENCE_MAX_BATCH_TOTAL_TOKENS (8000)',
    );
  });

  it('heartbeats, drain and step delay: defaults, and errors that name the variable', () => {
    expect(loadConfig({})).toMatchObject({ natsUrl: undefined, advertiseUrl: undefined, weight: 1, heartbeatMs: 1000, stepDelayMs: 0, drainMs: 10_000 });
    expect(
      loadConfig({
        NATS_URL: 'nats://nats:4222',
        INFERENCE_ADVERTISE_URL: 'http://10.0.0.7:50054',
        INFERENCE_WEIGHT: '4',
        INFERENCE_HEARTBEAT_MS: '250',
        INFERENCE_STEP_DELAY_MS: '20',
        INFERENCE_DRAIN_MS: '30000',
      }),
    ).toMatchObject({ natsUrl: 'nats://nats:4222', advertiseUrl: 'http://10.0.0.7:50054', weight: 4, heartbeatMs: 250, stepDelayMs: 20, drainMs: 30_000 });
    expect(
      problemsOf({
        NATS_URL: 'http://nats:4222',
        INFERENCE_ADVERTISE_URL: '10.0.0.7:50054',
        INFERENCE_WEIGHT: '0',
        INFERENCE_HEARTBEAT_MS: '50',
        INFERENCE_STEP_DELAY_MS: '-1',
        INFERENCE_DRAIN_MS: 'soon',
      }),
    ).toEqual([
      'NATS_URL must be a nats or tls URL, got "http://nats:4222"',
      'INFERENCE_ADVERTISE_URL must be an absolute URL, got "10.0.0.7:50054"',
      'INFERENCE_WEIGHT must be in 1..1000, got 0',
      'INFERENCE_HEARTBEAT_MS must be in 100..60000, got 50',
      'INFERENCE_STEP_DELAY_MS must be in 0..10000, got -1',
      'INFERENCE_DRAIN_MS must be an integer, got "soon"',
    ]);
  });
});
