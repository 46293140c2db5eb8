import { telemetry } from './telemetry';

import { runMain } from '@tokenmesh/server';

import { loadMeshConfig } from './mesh-config';
import { start } from './start';

runMain({ name: 'supervisor', telemetry, loadConfig: loadMeshConfig, start });
