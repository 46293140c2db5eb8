import { createLogger } from '@tokenmesh/logging';
import { InferenceService } from '@tokenmesh/proto';
import { createRuntime, type RunningService, startService } from '@tokenmesh/server';

import { inferenceService } from '../../../src/api/grpc/inference-api';
import { restApi } from '../../../src/api/rest/rest-api';
import { fakeFeedback } from '../../fakes';
import { inMemoryMesh } from '../../in-memory-mesh';

/** Room for every generated body, so the properties reach the parser and the routes, not the size limit. */
const BODY_LIMIT = 64 * 1024;

/** A log line the gateway wrote at warn or error level. */
type LoggedProblem = Record<string, unknown>;

/**
 * The gateway's server as `start()` builds it (InferenceService on HTTP/2 and HTTP/1.1, the REST
 * API on HTTP/1.1) over a real in-process mesh with a tinyllama worker; feedback accepts anything.
 * `problems` collects what it logged at warn or error: an unexpected failure is logged there.
 */
export async function fuzzGateway(): Promise<{
  grpcUrl: string;
  httpUrl: string;
  workerCalls: () => number;
  problems: LoggedProblem[];
  close: () => Promise<void>;
}> {
  const mesh = await inMemoryMesh();
  const problems: LoggedProblem[] = [];
  const logger = createLogger({
    service: 'gateway',
    level: 'warn',
    sink: (l) => problems.push(JSON.parse(l) as LoggedProblem),
  });
  let gateway: RunningService;
  try {
    gateway = await startService(
      {
        name: 'gateway',
        listen: { host: '127.0.0.1', port: 0, httpPort: 0 },
        routes: (r) => r.service(InferenceService, inferenceService(mesh.upstreams)),
        http: restApi({ upstreams: mesh.upstreams, feedback: fakeFeedback(), bodyLimitBytes: BODY_LIMIT, logger }),
      },
      { ...createRuntime('gateway'), logger },
    );
  } catch (err) {
    await mesh.close();
    throw err;
  }
  return {
    grpcUrl: gateway.server.url,
    httpUrl: gateway.server.http1Url!,
    workerCalls: mesh.workerCalls,
    problems,
    close: async () => {
      await gateway.close(0);
      await mesh.close();
    },
  };
}
