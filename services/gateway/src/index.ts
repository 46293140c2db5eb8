export { loadConfig, type GatewayConfig } from './config';
export { start } from './start';
