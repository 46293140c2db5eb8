import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import * as grpc from '@grpc/grpc-js';
import { startSupervisor, type SupervisorProcess } from '@tokenmesh/testing';

const run = promisify(execFile);
const BUF = join(__dirname, '../../node_modules/.bin/buf');

/**
 * Tools that discover the API themselves: `buf curl` (as grpcurl or Postman) asks gRPC server
 * reflection for the services and their schemas, against every service of `npm start`; a method
 * that does not exist is UNIMPLEMENTED to a gRPC client, not an HTTP 404 it cannot read.
 */
describe('gRPC server reflection and UNIMPLEMENTED (npm start)', () => {
  let mesh: SupervisorProcess;
  beforeAll(async () => {
    mesh = await startSupervisor({ OTEL_TRACES_EXPORTER: 'none' });
  }, 120_000);
  afterAll(async () => {
    expect(await mesh?.stop()).toBe(0);
  }, 60_000);

  const buf = async (...args: string[]) => (await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { timeout: 30_000 })).stdout;

  it('buf curl lists every service of every server through reflection (v1), and calls a method from the reflected schema', async () => {
    const expected: Record<string, string> = {
      gateway: 'tokenmesh.inference.v1.InferenceService',
      tokenizer: 'tokenmesh.tokenizer.v1.TokenizerService',
      router: 'tokenmesh.generation.v1.GenerationService',
      inference: 'tokenmesh.adapter.v1.AdapterService',
    };
    for (const [service, name] of Object.entries(expected)) {
      const listed = (await buf('--list-services', mesh.extra[service]!.url)).trim().split('\n');
      expect([service, listed]).toEqual([service, expect.arrayContaining([name, 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection'])]);
    }
    const methods = (await buf('--list-methods', mesh.url)).trim().split('\n');
    expect(methods).toEqual(expect.arrayContaining(['tokenmesh.inference.v1.InferenceService/Predict', 'tokenmesh.inference.v1.InferenceService/ListModels']));
    const answer = JSON.parse(
      await buf(
        '-d',
        '{"prompt":"In the beginning","sampling":{"maxTokens":4,"temperature":0}}',
        `${mesh.url}/tokenmesh.inference.v1.InferenceService/Predict`,
      ),
    );
    expect(answer).toMatchObject({ model: 'tinygpt@1', usage: { completionTokens: 4 } });
    // The older package name, which grpcurl asks first.
    const alpha = (await buf('--reflect-protocol', 'grpc-v1alpha', '--list-services', mesh.url)).trim().split('\n');
    expect(alpha).toContain('tokenmesh.inference.v1.InferenceService');
  }, 60_000);

  it('a method no service has is UNIMPLEMENTED over grpc-js, naming the method', async () => {
    const client = new grpc.Client(mesh.url.replace(/^http:\/\//, ''), grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError>((resolve, reject) =>
        client.makeUnaryRequest(
          '/tokenmesh.inference.v1.InferenceService/NoSuchMethod',
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          (e) => (e ? resolve(e) : reject(new Error('expected an error'))),
        ),
      );
      expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(err.details).toBe('method tokenmesh.inference.v1.InferenceService/NoSuchMethod is not implemented by this server');
    } finally {
      client.close();
    }
  });
});
