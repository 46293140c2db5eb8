import { SAMPLING_FIELDS } from '@tokenmesh/model';
import { SamplingParamsSchema } from '@tokenmesh/proto';

/** The proto's stop strings are applied to text by the gateway; the workers never see them. */
const EDGE_ONLY = ['stop'];

describe('SAMPLING_FIELDS against the SamplingParams message', () => {
  const proto = SamplingParamsSchema.fields.filter((f) => !EDGE_ONLY.includes(f.name));

  it('has one row per field the workers take, keyed and named as the proto names it', () => {
    expect(Object.keys(SAMPLING_FIELDS).sort()).toEqual(proto.map((f) => f.localName).sort());
    for (const f of proto) expect(SAMPLING_FIELDS[f.localName as keyof typeof SAMPLING_FIELDS].name).toBe(f.name);
  });
});
