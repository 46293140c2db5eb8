import type { Logger } from '@tokenmesh/logging';
import type { HttpRequest, HttpResponse } from '@tokenmesh/server';

import type { RestRequestObserver } from '../api/rest/rest-metrics';
import { type Asset, buildPlayground, type PageSettings, PLAYGROUND_PATH, type PlaygroundAssets } from './playground-assets';

/**
 * The page's Content-Security-Policy: its own script and stylesheet only, calls only to its own
 * origin (the gateway), no framing, no inline code. A page hosted elsewhere carries its host's.
 */
export const PLAYGROUND_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const COMMON = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** Content-hashed names never change content: browsers and CDNs may keep them a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

function send(req: HttpRequest, res: HttpResponse, a: Asset, headers: Record<string, string>): void {
  const base = { ...COMMON, ...headers, etag: a.etag };
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, base);
    res.end();
    return;
  }
  res.writeHead(200, { ...base, 'content-type': a.type, 'content-length': String(a.body.length) });
  if (req.method === 'HEAD') res.end();
  else res.end(a.body);
}

/** The route label of the page's files (bounded: one label for every content-hashed name). */
const FILE_ROUTE = `${PLAYGROUND_PATH}/{file}`;

/**
 * GET /playground (the page; `/` redirects there) and /playground/{file}: answers those and
 * returns true, leaves anything else to the REST API. The HTML is revalidated on every load
 * (`no-cache` with an ETag, so a new gateway's page is seen at once); its script and stylesheet
 * are immutable under content-hashed names. Built on the first request and kept; a failed build
 * is a 500 naming the problem, retried on the next request. Counted by `observe` as the REST
 * routes are (it answers before them).
 */
export function playgroundHandler(
  settings: PageSettings,
  opts: { readonly logger?: Logger; readonly observe?: RestRequestObserver } = {},
): (req: HttpRequest, res: HttpResponse) => boolean {
  const { logger, observe } = opts;
  let built: Promise<PlaygroundAssets> | undefined;
  const assets = () => {
    built ??= buildPlayground(settings).catch((err: unknown) => {
      built = undefined;
      throw err;
    });
    return built;
  };
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/') {
      observe?.(req, res, '/');
      res.writeHead(302, { location: PLAYGROUND_PATH, 'cache-control': 'no-cache' });
      res.end();
      return true;
    }
    if (path !== PLAYGROUND_PATH && !path.startsWith(`${PLAYGROUND_PATH}/`)) return false;
    const name = path.slice(PLAYGROUND_PATH.length + 1);
    const index = name === '' || name === 'index.html';
    observe?.(req, res, index ? PLAYGROUND_PATH : FILE_ROUTE);
    assets().then(
      (a) => {
        if (index) return send(req, res, a.index, { 'cache-control': 'no-cache', 'content-security-policy': PLAYGROUND_CSP });
        const file = a.files.get(name);
        if (file) return send(req, res, file, { 'cache-control': IMMUTABLE });
        res.writeHead(404, { ...COMMON, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
        res.end(`no playground file ${name}\n`);
      },
      (err: unknown) => {
        logger?.error('the playground page could not be built', { err: (err as Error).message });
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end(`the playground page could not be built: ${(err as Error).message}\n`);
      },
    );
    return true;
  };
}
