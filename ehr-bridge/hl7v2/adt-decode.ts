// `gw decode adt '<message>'`: what the ADT listener reads from a message and the ACK it would answer
// (parse-level checks only: whether an A40's prior MRN is known depends on the roster). No side effects.
import { buildAdtAck } from './adt-ack.ts';
import { parseAdt } from './adt-parser.ts';

export function decodeAdt(text: string | undefined): { exitCode: number; output: unknown } {
  if (text === undefined || text.trim() === '') {
    return { exitCode: 1, output: { error: { code: 'GW_ERR_ADT_REJECTED', message: "gw decode adt '<HL7 message; segments separated by CR or newlines>': the input is missing" } } };
  }
  const parsed = parseAdt(text);
  if (!parsed.ok) {
    const { refusal } = parsed;
    return {
      exitCode: 1,
      output: {
        error: { code: refusal.code, message: refusal.message, hl7Error: refusal.error, location: refusal.location },
        ack: buildAdtAck(parsed.header, refusal.ack, refusal).split('\r'),
      },
    };
  }
  return { exitCode: 0, output: { message: parsed.value, ack: buildAdtAck(parsed.header, 'AA').split('\r') } };
}
