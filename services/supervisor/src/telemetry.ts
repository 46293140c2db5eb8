// Imported first by main.ts: one SDK for the whole process; each service traces under its own
// name through tracer(name).
import { initTelemetry } from '@tokenmesh/telemetry';

export const telemetry = initTelemetry({ serviceName: 'tokenmesh' });
