// The framer a profile's `framing` asks for.
import type { Framing } from '../../../gateway/profiles/schema.ts';
import { createFixedFramer } from './fixed.ts';
import { createLineFramer } from './line.ts';
import { createStxEtxFramer } from './stx-etx.ts';
import type { Framer } from './types.ts';

export type { Framer, FramerEvent } from './types.ts';

export function createFramer(framing: Framing): Framer {
  switch (framing.kind) {
    case 'line':
      return createLineFramer(framing);
    case 'stx-etx':
      return createStxEtxFramer(framing);
    case 'fixed':
      return createFixedFramer({
        sync: Buffer.from(framing.sync, 'hex'),
        length: framing.length,
        checksum: framing.checksum,
        checksumFrom: framing.checksumFrom,
        ...(framing.checksumTo === undefined ? {} : { checksumTo: framing.checksumTo }),
      });
    default:
      return framing satisfies never;
  }
}
