// `gw audit verify [dataDir]`: walk the audit chain of a stopped gateway's buffer (LevelDB allows one
// process at a time), check every hash and link, print the count (exit 0) or the first broken record (exit 1).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LevelDbBuffer } from '../buffer/leveldb-buffer.ts';
import { DEVELOPMENT_BUFFER_KEY, parseBufferKey } from '../buffer/seal.ts';
import { GatewayError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { verifyChain } from './chain.ts';
import { readAuditRecords } from './trail.ts';

export async function runAuditVerify(
  dataDir: string,
  bufferKey: string | undefined,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const dir = join(resolve(dataDir), 'buffer');
  if (!existsSync(dir)) {
    err(`gw audit verify: GW_ERR_NOT_FOUND: no gateway buffer at ${dir}\n`);
    return 2;
  }
  if (!bufferKey) err('gw audit verify: GW_BUFFER_KEY is not set; trying the public development key\n');
  let buffer: LevelDbBuffer | undefined;
  try {
    const key = bufferKey ? parseBufferKey(bufferKey) : DEVELOPMENT_BUFFER_KEY;
    buffer = new LevelDbBuffer(
      { dir, key, destinations: [], quotaBytes: Number.MAX_SAFE_INTEGER, highWaterRatio: 1, retentionMs: Number.MAX_SAFE_INTEGER },
      createLogger('error'),
    );
    await buffer.open();
    const result = verifyChain(await readAuditRecords(buffer.state));
    if (!result.ok) {
      err(`gw audit verify: ${result.issues[0]!.code}: ${result.issues[0]!.message}\n`);
      return 1;
    }
    out(`audit chain intact: ${result.value.count} records, head ${result.value.headHash}\n`);
    return 0;
  } catch (e) {
    const code = e instanceof GatewayError ? e.code : 'GW_ERR_BUFFER_IO';
    err(`gw audit verify: ${code}: ${(e as Error).message}\n`);
    return 2;
  } finally {
    await buffer?.close();
  }
}
