import type { HttpRequest, HttpResponse } from '@tokenmesh/server';
import type { Client } from '@connectrpc/connect';
import type { FeedbackService } from '@tokenmesh/proto';
import type { Upstreams } from '../generate-text';
import { chatCompletionsRoute } from './chat-completions-route';
import { completionsRoute } from './completions-route';
import { feedbackRoute } from './feedback-route';
import { generateRoute } from './generate-route';
import { modelsRoute } from './models-route';
import { detokenizeRoute, tokenizeRoute } from './tokenize-route';
import { sendError, sendJson } from './http-json';
import type { ApiKeyAuth } from '../auth/api-key-auth';
import { authenticateRest } from '../auth/rest-auth';

export interface RestDeps {
  readonly upstreams: Upstreams;
  readonly feedback: Client<typeof FeedbackService>;
  readonly bodyLimitBytes: number;
  /** Authenticates each request (401 without a valid key) before its route; none = anonymous callers. */
  readonly auth?: ApiKeyAuth;
}

type Route = (req: HttpRequest, res: HttpResponse) => Promise<void>;

/**
 * The REST API as the server's fallback handler: Connect, gRPC-Web, /health, /ready and /metrics
 * are answered before it; anything else it does not know is a 404 in OpenAI's error shape.
 */
export function restApi(deps: RestDeps): (req: HttpRequest, res: HttpResponse) => void {
  const routes: Record<string, Record<string, Route>> = {
    '/generate': { POST: (q, s) => generateRoute(q, s, deps.upstreams, deps.bodyLimitBytes) },
    '/v1/completions': { POST: (q, s) => completionsRoute(q, s, deps.upstreams, deps.bodyLimitBytes) },
    '/v1/chat/completions': { POST: (q, s) => chatCompletionsRoute(q, s, deps.upstreams, deps.bodyLimitBytes) },
    '/tokenize': { POST: (q, s) => tokenizeRoute(q, s, deps.upstreams, deps.bodyLimitBytes) },
    '/detokenize': { POST: (q, s) => detokenizeRoute(q, s, deps.upstreams, deps.bodyLimitBytes) },
    '/v1/models': { GET: (q, s) => modelsRoute(q, s, deps.upstreams.router) },
    '/feedback': { POST: (q, s) => feedbackRoute(q, s, deps.feedback, deps.bodyLimitBytes) },
  };
  const fail = (res: HttpResponse, status: number, message: string, code: string, headers: Record<string, string> = {}) =>
    sendJson(res, status, { error: { message, type: 'invalid_request_error', param: null, code } }, headers);
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const methods = routes[path];
    if (!methods) return fail(res, 404, `no route for ${req.method} ${path}`, 'not_found');
    const route = methods[req.method ?? 'GET'];
    if (!route) return fail(res, 405, `${req.method} is not allowed on ${path}`, 'method_not_allowed', { allow: Object.keys(methods).join(', ') });
    (deps.auth ? authenticateRest(deps.auth, req, res) : Promise.resolve(true))
      .then((ok) => (ok ? route(req, res) : undefined))
      .catch((err: unknown) => sendError(res, err));
  };
}
