import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { modelDir } from './committed-models';

interface LogLine {
  event: string;
  parameters?: number;
  step?: number;
  tokens?: number;
  elapsed_s?: number;
  val_nats_per_byte?: number;
}

const dir = modelDir('tinygpt');
const log = readFileSync(join(dir, 'training_log.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as LogLine);
const card = readFileSync(join(dir, 'README.md'), 'utf8');
const start = log.find((l) => l.event === 'start')!;
const final = log.filter((l) => l.event === 'eval').at(-1)!;

describe('tinygpt model card', () => {
  it("states the training log's final figures", () => {
    expect(card).toContain(`held-out loss: ${final.val_nats_per_byte!.toFixed(3)} nats/byte`);
    expect(card).toContain(`steps: ${final.step!.toLocaleString('en-US')}`);
    expect(card).toContain(`tokens seen: ${final.tokens!.toLocaleString('en-US')}`);
    expect(card).toContain(`training time: ${(final.elapsed_s! / 60).toFixed(1)} minutes`);
    expect(card).toContain(`| ${start.parameters!.toLocaleString('en-US')} |`);
  });

  it('has data licences, intended use, limitations and three samples', () => {
    for (const heading of ['## Data', '## Intended use and limitations', '## Architecture', '## Training', '## Samples']) {
      expect(card).toContain(heading);
    }
    expect(card).toMatch(/public domain/);
    expect(card.match(/```text\n/g)).toHaveLength(3);
  });

  it('reached at most 2.0 nats/byte on held-out text', () => {
    expect(final.val_nats_per_byte).toBeLessThanOrEqual(2.0);
  });
});
