import { FinishReason } from '@tokenmesh/proto';

/** A finish reason as a person reads it. */
export function finishReasonText(r: FinishReason): string {
  switch (r) {
    case FinishReason.LENGTH:
      return 'length (max tokens reached)';
    case FinishReason.EOS:
      return 'stop (end of sequence)';
    case FinishReason.STOP:
      return 'stop (a stop string or token)';
    case FinishReason.CANCELLED:
      return 'cancelled';
    default:
      return 'unspecified';
  }
}
