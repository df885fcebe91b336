// For the BLE central: what a decode outcome becomes in the log and the metrics (CONVENTIONS 10).
// Issues: warn with codes and paths only; notes: debug (they may hold clinical values), not-carried counted.
import type { Logger } from '../../../gateway/logger.ts';
import type { GatewayMetrics } from '../../../gateway/metrics.ts';
import type { Issue } from '../../../gateway/types.ts';
import { NoteKind, type DecodeNote } from './frame.ts';

export interface DecodeReporter {
  /** Pass as GattDecodeContext.onNote. */
  note(note: DecodeNote): void;
  /** A refused value: one warn line (codes and paths, no values) and gateway_frames_refused_total{transport="ble",reason=<code>}. */
  refused(characteristic: string, issues: readonly Issue[]): void;
}

/** `logger` should be a child carrying { driver, deviceId }. */
export function createDecodeReporter(logger: Logger, metrics?: Pick<GatewayMetrics, 'framesRefused' | 'bleFieldsNotCarried'>): DecodeReporter {
  return {
    note(note) {
      if (note.kind === NoteKind.notCarried) metrics?.bleFieldsNotCarried.inc({ transport: 'ble', reason: note.field });
      logger.debug({ note }, `${note.characteristic} ${note.field}: ${note.kind}`);
    },
    refused(characteristic, issues) {
      for (const i of issues) metrics?.framesRefused.inc({ transport: 'ble', reason: i.code });
      logger.warn({ characteristic, issues: issues.map((i) => ({ code: i.code, path: i.path })) }, `BLE value refused: ${issues.map((i) => i.code).join(', ')}`);
      logger.debug({ characteristic, issues }, 'BLE value refused (detail)');
    },
  };
}
