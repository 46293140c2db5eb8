// The image's HEALTHCHECK (and compose's): healthy while this container's service answers
// /ready on its HTTP/1.1 port, so `depends_on: condition: service_healthy` waits for warm-up and
// a draining service reads unhealthy. Port as the service reads it (<SERVICE>_HTTP_PORT, its default).
const service = process.env.SERVICE ?? 'gateway';
const defaults = { gateway: 8080, tokenizer: 9102, router: 9103, inference: 9104, feedback: 9105, batch: 9106 };
const port = process.env[`${service.toUpperCase()}_HTTP_PORT`] ?? defaults[service];
fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(2000) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  () => process.exit(1),
);
