// HL7 v2 text escaping with the default encoding characters `|^~\&` (HL7 v2.5.1 ch. 2.7.1).
// hl7-standard writes values verbatim, so every leaf value passes through escapeHl7 exactly once.

const ESCAPES: Record<string, string> = {
  '|': '\\F\\', // field separator
  '^': '\\S\\', // component separator
  '~': '\\R\\', // repetition separator
  '\\': '\\E\\', // escape character
  '&': '\\T\\', // subcomponent separator
  '\r': '\\X0D\\', // a raw CR would end the segment (ch. 2.7.4 hexadecimal data)
  '\n': '\\X0A\\',
};

/** Escape one leaf value (a component or subcomponent), in a single pass so nothing is escaped twice. */
export function escapeHl7(text: string): string {
  return text.replace(/[|^~\\&\r\n]/g, (c) => ESCAPES[c] ?? c);
}

const UNESCAPES: Record<string, string> = { F: '|', S: '^', R: '~', E: '\\', T: '&' };

/** Undo escapeHl7 (and the hex form `\Xhh..\`); unknown sequences such as `\.br\` are kept as written. */
export function unescapeHl7(text: string): string {
  return text.replace(/\\([FSRET]|X[0-9A-Fa-f]+)\\/g, (whole, seq: string) => {
    if (seq.startsWith('X')) {
      const hex = seq.slice(1);
      if (hex.length % 2 !== 0) return whole;
      return Buffer.from(hex, 'hex').toString('latin1');
    }
    return UNESCAPES[seq] ?? whole;
  });
}
