// Types for hl7-standard 1.0.4 (CommonJS, ships none). Only the surface this folder uses.
// Quirks worth knowing (read in node_modules/hl7-standard/src/api.js):
// - build() joins segments with parseOptions.lineEndings, which defaults to '\r\n', not '\r';
// - build() escapes nothing: values are written verbatim, so callers escape before set();
// - the option names are swapped: `subComponents` is the repetition separator ('~') and
//   `repeatingFields` the subcomponent separator ('&');
// - every built segment ends with a trailing '|'.
declare module 'hl7-standard' {
  /** A field value: a string, components keyed `SEG.n.m`, or repetitions of either. */
  type HL7Value = string | Record<string, string | string[]> | Array<string | Record<string, string | string[]>>;

  interface HL7Segment {
    readonly type: string;
    index: number;
    data: Record<string, HL7Value>;
    set(field: string, value: HL7Value, sectionIndex?: number, subIndex?: number): unknown;
    get(field: string, sectionIndex?: number, subIndex?: number): HL7Value | null;
  }

  interface HL7Options {
    lineEndings?: string;
    subComponents?: string;
    repeatingFields?: string;
  }

  class HL7 {
    constructor(data?: string, opts?: HL7Options);
    raw: string;
    transform(cb?: (err: Error | null, data: unknown) => void, batch?: boolean): void;
    build(): string;
    get(field: string, index?: number, sectionIndex?: number, subIndex?: number): HL7Value | null;
    set(field: string, value: HL7Value | Record<string, HL7Value>, index?: number, sectionIndex?: number, subIndex?: number): unknown;
    getSegment(name: string): HL7Segment | null;
    getSegments(name?: string): HL7Segment[];
    createSegment(name: string): HL7Segment;
    createSegmentAfter(name: string, after: HL7Segment): HL7Segment;
    createSegmentBefore(name: string, before: HL7Segment): HL7Segment;
    deleteSegment(segment: HL7Segment): void;
    deleteSegments(segments: HL7Segment[]): void;
  }

  export = HL7;
}
