import type { Client } from '@connectrpc/connect';
import type { Logger } from '@tokenmesh/logging';
import type { FeedbackService } from '@tokenmesh/proto';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import type { ApiKeyAuth } from '../../edge/auth/api-key-auth';
import { delegatedCaller } from '../../edge/auth/batch-delegation';
import { setRestCaller } from '../../edge/auth/request-caller';
import { authenticateRest } from '../../edge/auth/rest-auth';
import type { Upstreams } from '../../pipeline/generate-text';
import type { IssuedRequests } from '../../pipeline/issued-requests';
import { routerCatalog } from '../../pipeline/served-model-catalog';
import type { Registry } from '../../registry/registry-service';
import { type AdapterAdmin, listAdaptersRoute, loadAdapterRoute, unloadAdapterRoute } from './adapters-route';
import {
  BATCH_CANCEL_ROUTE,
  BATCH_ROUTE,
  BATCHES_PATH,
  type BatchesDeps,
  batchesRouteOf,
  cancelBatchRoute,
  createBatchRoute,
  getBatchRoute,
  listBatchesRoute,
} from './batches-route';
import { chatCompletionsRoute } from './chat-completions-route';
import { completionsRoute } from './completions-route';
import { feedbackRoute } from './feedback-route';
import {
  deleteFileRoute,
  FILE_CONTENT_ROUTE,
  FILE_ROUTE,
  fileContentRoute,
  FILES_PATH,
  type FilesDeps,
  filesRouteOf,
  getFileRoute,
  listFilesRoute,
  uploadFileRoute,
} from './files-route';
import { generateRoute } from './generate-route';
import { sendError, sendJson } from './http-json';
import { MODEL_PATH_PREFIX, modelRoute, modelsRoute } from './models-route';
import { registryRoutes } from './registry-route';
import { type RequestContext, requestContext } from './request-context';
import type { RestRequestObserver } from './rest-metrics';
import { detokenizeRoute, tokenizeRoute } from './tokenize-route';

export interface RestDeps {
  readonly upstreams: Upstreams;
  readonly feedback: Client<typeof FeedbackService>;
  readonly bodyLimitBytes: number;
  /** The completions this gateway issued: /feedback accepts only those (see feedback-route). None = unchecked (tests of other routes). */
  readonly issued?: IssuedRequests;
  /** Authenticates each request (401 without a valid key) before its route; none = anonymous callers. */
  readonly auth?: ApiKeyAuth;
  /** GATEWAY_REQUEST_TIMEOUT_MS for every routed request, authentication included (0 = none); default DEFAULT_REQUEST_TIMEOUT_MS. */
  readonly requestTimeoutMs?: number;
  /** Told of every request, with its route (`unmatched` for a 404), to count it when it ends. */
  readonly observe?: RestRequestObserver;
  /** Where a request answered with a 500 is logged (at error level, with the error); none = not logged. */
  readonly logger?: Logger;
  /** The router's AdapterService behind the operators' adapter routes; none = no such routes. */
  readonly adapters?: AdapterAdmin['adapters'];
  /** The model registry's operator routes (/v1/registry/...). */
  readonly registry?: Registry;
  /** OpenAI's Files API (/v1/files...); none = no such routes. */
  readonly files?: FilesDeps;
  /** OpenAI's Batch API (/v1/batches...); none = no such routes. */
  readonly batches?: BatchesDeps;
  /** GATEWAY_BATCH_TOKEN: the batch service's credential, with which its lines run as their batch's owner (batch-delegation). */
  readonly batchToken?: string;
}

/** The one templated route: GET /v1/models/{model}, observed under this name (bounded labels). */
const MODEL_ROUTE = '/v1/models/{model}';

type Route = (req: HttpRequest, res: HttpResponse, ctx: RequestContext) => Promise<void>;

/**
 * The REST API as the server's fallback handler: Connect, gRPC-Web, /health, /ready and /metrics
 * are answered before it; anything else it does not know is a 404 in OpenAI's error shape.
 */
export function restApi(deps: RestDeps): (req: HttpRequest, res: HttpResponse) => void {
  const catalog = deps.upstreams.catalog ?? routerCatalog(deps.upstreams.router);
  const routes: Record<string, Record<string, Route>> = {
    '/generate': { POST: (q, s, c) => generateRoute(q, s, c, deps.upstreams, deps.bodyLimitBytes) },
    '/v1/completions': { POST: (q, s, c) => completionsRoute(q, s, c, deps.upstreams, deps.bodyLimitBytes) },
    '/v1/chat/completions': { POST: (q, s, c) => chatCompletionsRoute(q, s, c, deps.upstreams, deps.bodyLimitBytes) },
    '/tokenize': { POST: (q, s, c) => tokenizeRoute(q, s, c, deps.upstreams, deps.bodyLimitBytes) },
    '/detokenize': { POST: (q, s, c) => detokenizeRoute(q, s, c, deps.upstreams, deps.bodyLimitBytes) },
    '/v1/models': { GET: (q, s, c) => modelsRoute(q, s, c, catalog) },
    [MODEL_ROUTE]: { GET: (q, s, c) => modelRoute(q, s, c, catalog) },
    '/feedback': { POST: (q, s, c) => feedbackRoute(q, s, c, deps.feedback, deps.bodyLimitBytes, deps.issued) },
  };
  const files = deps.files;
  if (files) {
    routes[FILES_PATH] = { POST: (q, s, c) => uploadFileRoute(q, s, c, files), GET: (q, s, c) => listFilesRoute(q, s, c, files) };
    routes[FILE_ROUTE] = { GET: (q, s, c) => getFileRoute(q, s, c, files), DELETE: (q, s, c) => deleteFileRoute(q, s, c, files) };
    routes[FILE_CONTENT_ROUTE] = { GET: (q, s, c) => fileContentRoute(q, s, c, files) };
  }
  const batches = deps.batches;
  if (batches) {
    routes[BATCHES_PATH] = { POST: (q, s, c) => createBatchRoute(q, s, c, batches), GET: (q, s, c) => listBatchesRoute(q, s, c, batches) };
    routes[BATCH_ROUTE] = { GET: (q, s, c) => getBatchRoute(q, s, c, batches) };
    routes[BATCH_CANCEL_ROUTE] = { POST: (q, s, c) => cancelBatchRoute(q, s, c, batches) };
  }
  // Operators' routes: their `authorization` carries the workers' admin token, not an API key, so
  // API-key authentication does not apply (the workers check the token, and refuse without one).
  const admin = deps.adapters && { adapters: deps.adapters, catalog };
  const adminRoutes: Record<string, Record<string, Route>> = admin
    ? {
        '/v1/load_lora_adapter': { POST: (q, s, c) => loadAdapterRoute(q, s, c, admin, deps.bodyLimitBytes) },
        '/v1/unload_lora_adapter': { POST: (q, s, c) => unloadAdapterRoute(q, s, c, admin, deps.bodyLimitBytes) },
        '/v1/lora_adapters': { GET: (q, s, c) => listAdaptersRoute(q, s, c, admin) },
      }
    : {};
  if (deps.registry) Object.assign(adminRoutes, registryRoutes(deps.registry, deps.bodyLimitBytes));
  Object.assign(routes, adminRoutes);
  const fail = (res: HttpResponse, status: number, message: string, code: string, headers: Record<string, string> = {}) =>
    sendJson(res, status, { error: { message, type: 'invalid_request_error', param: null, code } }, headers);
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const routeName =
      path.startsWith(MODEL_PATH_PREFIX) && path.length > MODEL_PATH_PREFIX.length ? MODEL_ROUTE : (filesRouteOf(path) ?? batchesRouteOf(path) ?? path);
    const methods = routes[routeName];
    deps.observe?.(req, res, methods ? routeName : 'unmatched');
    if (!methods) return fail(res, 404, `no route for ${req.method} ${path}`, 'not_found');
    const route = methods[req.method ?? 'GET'];
    if (!route) return fail(res, 405, `${req.method} is not allowed on ${path}`, 'method_not_allowed', { allow: Object.keys(methods).join(', ') });
    // Before authentication: its answers carry the request id, and a slow key store is bounded by the timeout.
    const ctx = requestContext(req, res, deps.requestTimeoutMs, deps.logger);
    // A batch line (the batch service, with its token) runs as its batch's owner.
    const delegated = delegatedCaller(req, deps.batchToken);
    if (delegated) setRestCaller(req, delegated);
    (deps.auth && !delegated && !(routeName in adminRoutes) ? authenticateRest(deps.auth, req, res) : Promise.resolve(true))
      .then((ok) => (ok ? route(req, res, ctx) : undefined))
      .catch((err: unknown) => {
        ctx.report(err);
        sendError(res, err);
      });
  };
}
