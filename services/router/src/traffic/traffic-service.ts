import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { type SplitSchema, TrafficService } from '@tokenmesh/proto';
import { checkAdminToken } from '@tokenmesh/server';

import { parseTrafficConfig, TrafficConfigError } from './split-config';
import type { SplitView, TrafficState } from './traffic-state';

function splitMessage(v: SplitView): MessageInitShape<typeof SplitSchema> {
  return {
    model: v.model,
    variants: (v.split?.variants ?? []).map((x) => ({ name: x.name, model: x.model, weight: x.weight, canary: x.canary })),
    strategy: v.split?.strategy ?? '',
    changedAtRunTime: v.changedAtRunTime,
  };
}

/**
 * The router's traffic splits at run time: SetTraffic lays one model's split over the file's
 * (validated by the same rules as ROUTER_CONFIG_FILE, so one error names every problem), or clears
 * it; the change applies to the next request, never to a stream already routed. Needs
 * ROUTER_ADMIN_TOKEN; GetTraffic is open.
 */
export function trafficService(
  state: TrafficState,
  opts: { adminToken?: string; onChange?: (before: SplitView, after: SplitView) => void },
): ServiceImpl<typeof TrafficService> {
  return {
    getTraffic: () => ({ splits: state.views().map(splitMessage) }),
    setTraffic(req, ctx) {
      checkAdminToken(ctx.requestHeader, opts.adminToken, 'ROUTER_ADMIN_TOKEN');
      if (!req.model) throw new ConnectError('model: the model name to split is required', Code.InvalidArgument);
      let split;
      if (req.variants.length > 0) {
        const shadow = state.view(req.model).split?.shadow;
        const doc = {
          models: {
            [req.model]: {
              ...(req.strategy && { strategy: req.strategy }),
              variants: req.variants.map((v) => ({ name: v.name, model: v.model, weight: v.weight, ...(v.canary && { canary: true }) })),
              ...(shadow && { shadow }),
            },
          },
        };
        try {
          split = parseTrafficConfig(JSON.stringify(doc), 'SetTraffic').models.get(req.model);
        } catch (err) {
          if (err instanceof TrafficConfigError) throw new ConnectError(err.problems.join('; '), Code.InvalidArgument);
          throw err;
        }
      } else if (req.strategy) {
        throw new ConnectError('strategy: give variants with it (no variants clears the run-time split)', Code.InvalidArgument);
      }
      const { before, after } = state.set(req.model, split);
      opts.onChange?.(before, after);
      return { split: splitMessage(after), previous: splitMessage(before) };
    },
  };
}
