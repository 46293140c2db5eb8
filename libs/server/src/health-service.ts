import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { Health, HealthCheckResponseSchema, HealthListResponseSchema } from '@tokenmesh/proto';

import type { HealthReporter } from './health-reporter';

/**
 * Serves grpc.health.v1.Health from `health`: what Kubernetes gRPC probes, grpc-health-probe and
 * gRPC load balancers call. Check answers NOT_FOUND for an unknown service, as the spec says;
 * Watch streams the current status and every change.
 */
export function registerHealthService(router: ConnectRouter, health: HealthReporter): void {
  router.service(Health, {
    check(req) {
      const status = health.get(req.service);
      if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return create(HealthCheckResponseSchema, { status });
    },
    async *watch(req, ctx) {
      for await (const status of health.watch(req.service, ctx.signal)) {
        yield create(HealthCheckResponseSchema, { status });
      }
    },
    list() {
      const statuses = Object.fromEntries([...health.list()].map(([name, status]) => [name, create(HealthCheckResponseSchema, { status })]));
      return create(HealthListResponseSchema, { statuses });
    },
  });
}
