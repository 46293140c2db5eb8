import { loadConfig } from '../src/config';

describe('router config', () => {
  it('requires worker URLs and says how to give them', () => {
    expect(() => loadConfig({})).toThrow('ROUTER_WORKERS is required: comma-separated worker URLs');
    expect(() => loadConfig({ ROUTER_WORKERS: 'localhost:1' })).toThrow('ROUTER_WORKERS must be a http or https URL, got "localhost:1"');
    expect(loadConfig({ ROUTER_WORKERS: 'http://127.0.0.1:1, http://127.0.0.1:2' }).workers).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2']);
  });
});
