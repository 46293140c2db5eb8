import { loadConfig } from '../src/config';

describe('gateway config', () => {
  it('has working local defaults and rejects clashing ports and bad URLs', () => {
    expect(loadConfig({})).toMatchObject({ grpcPort: 50051, httpPort: 8080, defaultModel: 'tinygpt', routerUrl: 'http://127.0.0.1:50053' });
    expect(() => loadConfig({ GATEWAY_GRPC_PORT: '9000', GATEWAY_HTTP_PORT: '9000' })).toThrow(
      'GATEWAY_GRPC_PORT and GATEWAY_HTTP_PORT must differ, both are 9000',
    );
    expect(() => loadConfig({ GATEWAY_ROUTER_URL: 'router:50053' })).toThrow('GATEWAY_ROUTER_URL must be a http or https URL, got "router:50053"');
  });

  it('reads the store circuit breaker (GATEWAY_STORE_BREAKER_*): 3 failures and 1 s by default, 0 failures = off, bad values named', () => {
    expect(loadConfig({}).storeBreaker).toEqual({ failures: 3, cooldownMs: 1000, maxCooldownMs: 30_000 });
    expect(loadConfig({ GATEWAY_STORE_BREAKER_FAILURES: '0', GATEWAY_STORE_BREAKER_COOLDOWN_MS: '5000' }).storeBreaker).toMatchObject({
      failures: 0,
      cooldownMs: 5000,
    });
    expect(() => loadConfig({ GATEWAY_STORE_BREAKER_FAILURES: '-1' })).toThrow(/GATEWAY_STORE_BREAKER_FAILURES/);
    expect(() => loadConfig({ GATEWAY_STORE_BREAKER_COOLDOWN_MS: '60000' })).toThrow(/GATEWAY_STORE_BREAKER_COOLDOWN_MS/);
  });

  it('reads the framed paths (GATEWAY_FRAMED_ROUTER_CALLS, GATEWAY_FRAMED_STREAM_PREDICT): on by default, Connect when false', () => {
    expect(loadConfig({}).framedRouterCalls).toBe(true);
    expect(loadConfig({ GATEWAY_FRAMED_ROUTER_CALLS: 'false' }).framedRouterCalls).toBe(false);
    expect(() => loadConfig({ GATEWAY_FRAMED_ROUTER_CALLS: 'maybe' })).toThrow(/GATEWAY_FRAMED_ROUTER_CALLS/);
    expect(loadConfig({}).framedStreamPredict).toBe(true);
    expect(loadConfig({ GATEWAY_FRAMED_STREAM_PREDICT: 'false' }).framedStreamPredict).toBe(false);
  });
});
