import { PLAYGROUND_CSP, playgroundHandler } from '../../src/playground/playground-route';
import { listen } from '../fakes';

// The page as the gateway serves it: built from the TypeScript sources on first request, with its caching and security headers.
describe('GET /playground', () => {
  let http: Awaited<ReturnType<typeof listen>>;
  /** The route label each request was counted under (as the REST metrics count it). */
  const routes: string[] = [];
  beforeAll(async () => {
    const page = playgroundHandler({ apiKeys: true, jaegerUrl: 'http://jaeger:16686' }, { observe: (_req, _res, route) => routes.push(route) });
    http = await listen((req, res) => {
      if (!page(req, res)) res.writeHead(404).end('rest');
    });
  });
  afterAll(() => http.close());

  it('serves the HTML with a CSP, no-cache and an ETag (304 when unchanged), naming content-hashed files', async () => {
    const res = await fetch(`${http.base}/playground`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(PLAYGROUND_CSP);
    expect(PLAYGROUND_CSP).toContain("script-src 'self'");
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    // The settings the page reads: keys are configured, traces link to Jaeger.
    expect(html).toContain('<script type="application/json" id="settings">{"apiKeys":true,"jaegerUrl":"http://jaeger:16686"}</script>');
    const again = await fetch(`${http.base}/playground/`, { headers: { 'if-none-match': res.headers.get('etag')! } });
    expect(again.status).toBe(304);
    const script = /src="(\/playground\/main-[A-Z0-9]+\.js)"/.exec(html)![1]!;
    const style = /href="(\/playground\/style-[A-Z0-9]+\.css)"/.exec(html)![1]!;
    const js = await fetch(http.base + script);
    expect([js.status, js.headers.get('content-type'), js.headers.get('cache-control')]).toEqual([
      200,
      'text/javascript; charset=utf-8',
      'public, max-age=31536000, immutable',
    ]);
    // The bundle holds connect-web's two protocols (its headers), not a hand-written client.
    const code = await js.text();
    expect(code.includes('Connect-Protocol-Version') && code.includes('application/grpc-web')).toBe(true);
    expect((await fetch(http.base + style)).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('redirects / to the page, 404s unknown files, and leaves other paths and methods to the REST API', async () => {
    const root = await fetch(`${http.base}/`, { redirect: 'manual' });
    expect([root.status, root.headers.get('location')]).toEqual([302, '/playground']);
    expect((await fetch(`${http.base}/playground/nothing.js`)).status).toBe(404);
    const head = await fetch(`${http.base}/playground`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    expect(await (await fetch(`${http.base}/v1/models`)).text()).toBe('rest');
    expect(await (await fetch(`${http.base}/playground`, { method: 'POST' })).text()).toBe('rest');
  });

  it('counts its requests under bounded route labels, and none it leaves to the REST API', async () => {
    routes.length = 0;
    const html = await (await fetch(`${http.base}/playground`)).text();
    const script = /src="(\/playground\/main-[A-Z0-9]+\.js)"/.exec(html)![1]!;
    await (await fetch(http.base + script)).text();
    await (await fetch(`${http.base}/playground/nothing.css`)).text();
    await (await fetch(`${http.base}/`, { redirect: 'manual' })).text();
    await (await fetch(`${http.base}/v1/models`)).text();
    expect(routes).toEqual(['/playground', '/playground/{file}', '/playground/{file}', '/']);
  });
});
