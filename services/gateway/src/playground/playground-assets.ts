import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { build } from 'esbuild';

/** The page's sources: TypeScript for the browser, its stylesheet and its HTML (web/playground). */
export const PLAYGROUND_SOURCES = join(__dirname, '..', '..', 'web', 'playground');

/** Where the page and its files are served. */
export const PLAYGROUND_PATH = '/playground';

/** One file the gateway serves: its body, type and strong ETag. */
export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** The built page: its HTML (`index`, revalidated) and its content-named script and stylesheet (`files`, immutable). */
export interface PlaygroundAssets {
  readonly index: Asset;
  readonly files: ReadonlyMap<string, Asset>;
}

/** What the page is told about the gateway that serves it, as JSON in the HTML. */
export interface PageSettings {
  /** API keys are configured: the page shows its API-key field. */
  readonly apiKeys: boolean;
  /** Jaeger's UI: trace ids become links to `${jaegerUrl}/trace/{id}`. */
  readonly jaegerUrl?: string;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** JSON safe inside a <script> element: no `</script>` or `<!--` can end it early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/**
 * Bundles the page with esbuild (a gateway dependency, so `npm ci` is all it needs): the browser
 * TypeScript and the generated clients into one minified script, content-hashed names so browsers
 * may keep them for good, and the HTML that names them. In memory: a built page can never be
 * stale against the gateway that serves it. About 0.1 s of CPU, so it runs once, on the first
 * request for the page, not at every gateway start.
 */
export async function buildPlayground(settings: PageSettings, sources = PLAYGROUND_SOURCES): Promise<PlaygroundAssets> {
  const out = await build({
    entryPoints: [join(sources, 'main.ts'), join(sources, 'style.css')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome111', 'firefox115', 'safari16.4'],
    outdir: PLAYGROUND_PATH,
    entryNames: '[name]-[hash]',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const files = new Map<string, Asset>();
  for (const f of out.outputFiles) {
    const name = basename(f.path);
    const type = TYPES[name.slice(name.lastIndexOf('.'))];
    if (type) files.set(name, asset(Buffer.from(f.contents), type));
  }
  const script = [...files.keys()].find((n) => n.endsWith('.js'));
  const style = [...files.keys()].find((n) => n.endsWith('.css'));
  if (!script || !style) throw new Error(`the playground build gave no script or no stylesheet (${[...files.keys()].join(', ')})`);
  const html = (await readFile(join(sources, 'index.html'), 'utf8'))
    .replace('{{script}}', `${PLAYGROUND_PATH}/${script}`)
    .replace('{{style}}', `${PLAYGROUND_PATH}/${style}`)
    .replace('{{settings}}', scriptJson(settings));
  return { index: asset(Buffer.from(html), 'text/html; charset=utf-8'), files };
}
