// Imported first by main.ts: instrumentation must patch grpc-js and http before they load.
import { initTelemetry } from '@tokenmesh/telemetry';

export const telemetry = initTelemetry({ serviceName: 'batch' });
