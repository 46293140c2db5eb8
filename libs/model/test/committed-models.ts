import { join, resolve } from 'node:path';

/** The repository's model directory (TOKENMESH_MODELS_DIR points the suite at a fresh build) and its models. */
export const MODELS_DIR = resolve(process.env['TOKENMESH_MODELS_DIR'] ?? resolve(__dirname, '../../../models'));
export const COMMITTED = ['tinygpt', 'tinyllama'] as const;
export const modelDir = (name: string): string => join(MODELS_DIR, name);
