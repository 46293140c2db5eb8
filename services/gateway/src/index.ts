export { loadConfig, type GatewayConfig } from './config';
export { start, type GatewayDeps } from './start';
