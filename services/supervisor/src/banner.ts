import type { Mesh } from './supervisor';

/** The human summary `npm start` prints once everything is up. */
export function banner(mesh: Mesh, opts: { readonly playground: boolean }): string {
  const gw = mesh.get('gateway').server;
  const rest = gw.http1Url ?? gw.url;
  const rows = mesh.services.map((s) => `  ${s.name.padEnd(10)} gRPC/Connect ${s.server.url.padEnd(24)} metrics ${s.server.http1Url ?? '-'}/metrics`);
  return [
    '',
    'tokenmesh is up.',
    `  REST, Connect, gRPC-Web (HTTP/1.1)  ${rest}`,
    `  gRPC, Connect, gRPC-Web (HTTP/2)    ${gw.url}   tokenmesh.inference.v1.InferenceService`,
    ...(opts.playground ? [`  Playground (open in a browser)      ${rest}/playground`] : []),
    '',
    ...rows,
    '',
    'Try:',
    `  curl -s ${rest}/generate -H 'content-type: application/json' -d '{"prompt":"In the beginning","max_tokens":32}'`,
    `  curl -sN ${rest}/v1/completions -H 'content-type: application/json' -d '{"prompt":"In the beginning","max_tokens":32,"stream":true}'`,
    `  curl -s ${rest}/tokenmesh.inference.v1.InferenceService/Predict -H 'content-type: application/json' -d '{"prompt":"In the beginning"}'`,
    '',
    'Ctrl-C drains streams and exits.',
    '',
  ].join('\n');
}
