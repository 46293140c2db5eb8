import type { InferenceSession } from 'onnxruntime-node';

import type { ModelSpec } from './model-config';

/** One input or output as the Optimum `text-generation-with-past` layout defines it. */
export interface IoSpec {
  readonly name: string;
  readonly type: 'int64' | 'float32';
  /** Numbers are fixed sizes; strings are dynamic axes (Optimum's symbolic names). */
  readonly dims: readonly (number | string)[];
}

/** `past_key_values.{i}.key/.value` input names, layer by layer. */
export function pastNames(spec: Pick<ModelSpec, 'numLayers'>): string[] {
  return Array.from({ length: spec.numLayers }, (_, i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]).flat();
}

/** `present.{i}.key/.value` output names, in the same order as {@link pastNames}. */
export function presentNames(spec: Pick<ModelSpec, 'numLayers'>): string[] {
  return Array.from({ length: spec.numLayers }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();
}

/** The inputs and outputs a model with this config must have. */
export function expectedIo(spec: ModelSpec): { inputs: IoSpec[]; outputs: IoSpec[] } {
  const kv = (past: string) => ['batch_size', spec.numKvHeads, past, spec.headDim];
  return {
    inputs: [
      { name: 'input_ids', type: 'int64', dims: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', type: 'int64', dims: ['batch_size', 'past_sequence_length + sequence_length'] },
      { name: 'position_ids', type: 'int64', dims: ['batch_size', 'sequence_length'] },
      ...pastNames(spec).map((name) => ({ name, type: 'float32' as const, dims: kv('past_sequence_length') })),
    ],
    outputs: [
      { name: 'logits', type: 'float32', dims: ['batch_size', 'sequence_length', spec.vocabSize] },
      ...presentNames(spec).map((name) => ({
        name,
        type: 'float32' as const,
        dims: kv('past_sequence_length + sequence_length'),
      })),
    ],
  };
}

/** The inputs and outputs a loaded session declares, in the same shape as {@link expectedIo}. */
export function sessionIo(session: InferenceSession): { inputs: IoSpec[]; outputs: IoSpec[] } {
  const describe = (m: InferenceSession.ValueMetadata): IoSpec =>
    m.isTensor ? { name: m.name, type: m.type as IoSpec['type'], dims: [...m.shape] } : { name: m.name, type: 'float32', dims: ['<not a tensor>'] };
  return { inputs: session.inputMetadata.map(describe), outputs: session.outputMetadata.map(describe) };
}

/**
 * Differences between what a session declares and what its config implies, as readable lines.
 * Only fixed sizes are compared for dims: exporters name dynamic axes differently.
 */
export function ioMismatches(session: InferenceSession, spec: ModelSpec): string[] {
  const want = expectedIo(spec);
  const got = sessionIo(session);
  const problems: string[] = [];
  for (const side of ['inputs', 'outputs'] as const) {
    const have = new Map(got[side].map((io) => [io.name, io]));
    for (const w of want[side]) {
      const g = have.get(w.name);
      if (!g) {
        problems.push(`${side}: missing ${w.name}`);
        continue;
      }
      have.delete(w.name);
      if (g.type !== w.type) problems.push(`${w.name}: type ${g.type}, expected ${w.type}`);
      if (g.dims.length !== w.dims.length) {
        problems.push(`${w.name}: rank ${g.dims.length}, expected ${w.dims.length}`);
        continue;
      }
      w.dims.forEach((d, i) => {
        const gd = g.dims[i];
        if (typeof d === 'number' && gd !== d) problems.push(`${w.name}: dim ${i} is ${gd}, expected ${d} from config.json`);
        if (typeof d === 'string' && typeof gd === 'number') problems.push(`${w.name}: dim ${i} is fixed at ${gd}, expected dynamic (${d})`);
      });
    }
    for (const extra of have.keys()) problems.push(`${side}: unexpected ${extra}`);
  }
  return problems;
}
