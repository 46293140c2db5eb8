/**
 * The floor of the overload burst: a bare Node HTTP server (its own process, as the gateway is)
 * that reads each JSON body and answers 429 at once. What the burst's refusals cost on this
 * machine before any tokenmesh code runs: Node's HTTP parsing and writes, the loopback, the
 * load client. Prints its URL as one line, then serves until killed.
 */
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    JSON.parse(body);
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end('{"error":{"message":"at capacity","type":"rate_limit_error","code":"resource_exhausted"}}');
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  console.log(`http://127.0.0.1:${port}`);
});
