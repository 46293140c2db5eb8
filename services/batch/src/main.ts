import { telemetry } from './telemetry';

import { runMain } from '@tokenmesh/server';

import { loadConfig } from './config';
import { start } from './start';

runMain({ name: 'batch', telemetry, loadConfig, start: (config, runtime) => start(config, runtime) });
