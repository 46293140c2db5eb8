import { createCounter, type Registry } from '@tokenmesh/metrics';

/** `tokenmesh_gateway_shed_total{model}`: requests refused by the saturation gate before any work. */
export function shedCounter(registry: Registry): (model: string) => void {
  const shed = createCounter(registry, {
    name: 'gateway_shed_total',
    help: 'Requests refused at once (429) because the router had just found every worker of the model full',
    labelNames: ['model'] as const,
  });
  return (model) => shed.inc({ model });
}
