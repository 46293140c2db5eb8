import { createCounter, type Registry } from '@tokenmesh/metrics';

/** Why the edge refused a request before any work: past the reported capacity, or just after the workers refused one. */
export type ShedReason = 'capacity' | 'saturated';

/** `tokenmesh_gateway_shed_total{model,reason}`: requests refused at the edge (429) before any per-request work. */
export function shedCounter(registry: Registry): (reason: ShedReason) => (model: string) => void {
  const shed = createCounter(registry, {
    name: 'gateway_shed_total',
    help: 'Requests refused at once (429) before any work: past the capacity the router reports for the model (reason=capacity), or just after the router found every worker of the model full (reason=saturated)',
    labelNames: ['model', 'reason'] as const,
  });
  return (reason) => (model) => shed.inc({ model, reason });
}
