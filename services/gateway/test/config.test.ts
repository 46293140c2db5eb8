import { loadConfig } from '../src/config';

describe('gateway config', () => {
  it('has working local defaults and rejects clashing ports and bad URLs', () => {
    expect(loadConfig({})).toMatchObject({ grpcPort: 50051, httpPort: 8080, defaultModel: 'tinygpt', routerUrl: 'http://127.0.0.1:50053' });
    expect(() => loadConfig({ GATEWAY_GRPC_PORT: '9000', GATEWAY_HTTP_PORT: '9000' })).toThrow(
      'GATEWAY_GRPC_PORT and GATEWAY_HTTP_PORT must differ, both are 9000',
    );
    expect(() => loadConfig({ GATEWAY_ROUTER_URL: 'router:50053' })).toThrow('GATEWAY_ROUTER_URL must be a http or https URL, got "router:50053"');
  });
});
