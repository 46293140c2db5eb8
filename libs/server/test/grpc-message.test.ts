import { specGrpcMessage } from '../src/grpc-message';

describe('specGrpcMessage', () => {
  it('keeps printable ASCII, encodes % and non-ASCII, and decodes with decodeURI and decodeURIComponent', () => {
    for (const text of ['prompt: must not be empty (or give messages)', 'max 100% — naïve ☃', 'a,b;c/d?e=f&g#h']) {
      const wire = specGrpcMessage(encodeURIComponent(text));
      expect(decodeURI(wire)).toBe(text);
      expect(decodeURIComponent(wire)).toBe(text);
    }
    expect(specGrpcMessage(encodeURIComponent('top_p: in (0, 1]'))).toBe('top_p: in (0, 1]');
  });
});
