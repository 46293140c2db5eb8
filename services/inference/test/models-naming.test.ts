import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { scanRepository } from '@tokenmesh/model';

import { parseModelEntry } from '../src/models/model-repo';

describe('a bare INFERENCE_MODELS path is named as the repository names its directory', () => {
  const root = mkdtempSync(join(tmpdir(), 'naming-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.each([
    ['both in model-meta.json', { name: 'alpha', version: '3' }, 'alpha@3'],
    ['only a name', { name: 'beta' }, 'beta@1'],
    ['only a version', { version: 'int8' }, 'gamma@int8'],
    ['no model-meta.json', undefined, 'gamma@1'],
  ])('%s', async (_, meta, id) => {
    rmSync(join(root, 'gamma'), { recursive: true, force: true });
    const dir = join(root, 'gamma');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{}');
    if (meta) writeFileSync(join(dir, 'model-meta.json'), JSON.stringify(meta));
    const entry = parseModelEntry(dir);
    const [listed] = await scanRepository(root);
    expect(`${entry.name}@${entry.version}`).toBe(id);
    expect(`${listed!.name}@${listed!.version}`).toBe(id);
  });
});
