import type { IncomingMessage } from 'node:http';

import { isUntracedRequest } from '../src';

const request = (url: string, headers: Record<string, string> = {}) => ({ url, headers }) as unknown as IncomingMessage;

describe('http instrumentation filter', () => {
  it('leaves probes and scrapes out of Jaeger', () => {
    expect(isUntracedRequest(request('/health'))).toBe(true);
    expect(isUntracedRequest(request('/ready?verbose=1'))).toBe(true);
    expect(isUntracedRequest(request('/metrics'))).toBe(true);
  });

  it('leaves RPCs on the HTTP/1.1 listener to the Connect interceptor', () => {
    const path = '/tokenmesh.generation.v1.GenerationService/Generate';
    expect(isUntracedRequest(request(path, { 'content-type': 'application/grpc-web+proto' }))).toBe(true);
    expect(isUntracedRequest(request(path, { 'content-type': 'application/connect+json' }))).toBe(true);
    expect(isUntracedRequest(request(path, { 'content-type': 'application/json', 'connect-protocol-version': '1' }))).toBe(true);
  });

  it('traces plain HTTP API requests', () => {
    expect(isUntracedRequest(request('/v1/chat/completions', { 'content-type': 'application/json' }))).toBe(false);
    expect(isUntracedRequest(request('/healthz-report'))).toBe(false);
  });
});
