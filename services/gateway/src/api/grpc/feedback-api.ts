import type { Client, ServiceImpl } from '@connectrpc/connect';
import { FeedbackService } from '@tokenmesh/proto';

import { fromUpstream } from '../../edge/api-error';
import { modelAllowed } from '../../edge/auth/model-access';
import { callerIn } from '../../edge/auth/request-caller';
import { submitCheckedFeedback } from '../../pipeline/checked-feedback';
import type { IssuedRequests } from '../../pipeline/issued-requests';

/**
 * FeedbackService at the edge (gRPC, Connect, gRPC-Web): what a browser uses for thumbs up/down
 * and the per-variant report. SubmitFeedback is checked as POST /feedback is (only completions
 * this gateway issued, their own model and variant); GetReport shows an API key limited to some
 * models only those models' variants, as ListModels does.
 */
export function feedbackService(feedback: Client<typeof FeedbackService>, issued?: IssuedRequests): ServiceImpl<typeof FeedbackService> {
  return {
    async submitFeedback(req, ctx) {
      const feedbackId = await submitCheckedFeedback(feedback, issued, req, ctx.signal);
      return { feedbackId };
    },

    async getReport(req, ctx) {
      const report = await feedback.getReport({ model: req.model }, { signal: ctx.signal }).catch((e: unknown) => Promise.reject(fromUpstream(e)));
      const allowed = callerIn(ctx).allowedModels;
      return { variants: allowed ? report.variants.filter((v) => modelAllowed(allowed, v.model)) : report.variants };
    },
  };
}
