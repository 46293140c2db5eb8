import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Client } from '@connectrpc/connect';
import type { FeedbackService } from '@tokenmesh/proto';
import type { Upstreams } from '../generate-text';
import { completionsRoute } from './completions-route';
import { feedbackRoute } from './feedback-route';
import { generateRoute } from './generate-route';
import { sendError, sendJson } from './http-json';

export interface RestDeps {
  readonly upstreams: Upstreams;
  readonly feedback: Client<typeof FeedbackService>;
  readonly bodyLimitBytes: number;
  /** True when a model can be served (readiness, not liveness). */
  readonly ready: () => Promise<boolean>;
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * The REST API as one request handler. Returns false for paths it does not own, so the caller
 * can hand them to Connect (which serves the same port for Connect and gRPC-Web).
 */
export function restApi(deps: RestDeps): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const routes: Record<string, Record<string, Route>> = {
    '/generate': { POST: (q, s) => generateRoute(q, s, deps.upstreams, deps.bodyLimitBytes) },
    '/v1/completions': { POST: (q, s) => completionsRoute(q, s, deps.upstreams, deps.bodyLimitBytes) },
    '/feedback': { POST: (q, s) => feedbackRoute(q, s, deps.feedback, deps.bodyLimitBytes) },
    '/health': { GET: async (_q, s) => sendJson(s, 200, { status: 'ok' }) },
    '/ready': {
      GET: async (_q, s) => {
        const ok = await deps.ready().catch(() => false);
        sendJson(s, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready' });
      },
    },
  };
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const methods = routes[path];
    if (!methods) return false;
    const route = methods[req.method ?? 'GET'];
    if (!route) {
      sendJson(res, 405, { error: { message: `${req.method} is not allowed on ${path}`, type: 'invalid_request_error', param: null, code: 'method_not_allowed' } }, { allow: Object.keys(methods).join(', ') });
      return true;
    }
    try {
      await route(req, res);
    } catch (err) {
      sendError(res, err);
    }
    return true;
  };
}
