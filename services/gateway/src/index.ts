export { type GatewayConfig, loadConfig } from './config';
export { type GatewayDeps, start } from './start';
