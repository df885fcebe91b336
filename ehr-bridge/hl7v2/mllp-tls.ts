// TLS for an MLLP destination: the PEM files read once at start-up, certificate pinning, and telling a
// TLS failure (retry with GW_ERR_MLLP_TLS) from a plain TCP one. Key material is never logged.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { issue } from '../../gateway/errors.ts';
import type { Issue, Result } from '../../gateway/types.ts';
import type { MllpTlsConfig } from './config.ts';

export interface MllpTlsSettings {
  /** Options for tls.connect (without host and port). */
  connect: ConnectionOptions;
  /** Upper-case hex SHA-256 fingerprints of acceptable server certificates; empty: no pinning. */
  pins: readonly string[];
}

/** Read the configured PEM files. Every unreadable file is an issue with its config path. */
export function loadMllpTls(config: MllpTlsConfig, destinationId: string, basePath = 'tls'): Result<MllpTlsSettings> {
  const issues: Issue[] = [];
  const read = (key: 'caFile' | 'certFile' | 'keyFile'): Buffer | undefined => {
    const file = config[key];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      // The message names the file and the errno, never its content.
      issues.push(issue('GW_ERR_MLLP_TLS_CONFIG', `${basePath}.${key}`, destinationId, key, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
      return undefined;
    }
  };
  const ca = read('caFile');
  const cert = read('certFile');
  const key = read('keyFile');
  if (issues.length > 0) return { ok: false, issues };
  const connect: ConnectionOptions = {
    rejectUnauthorized: config.rejectUnauthorized,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(config.servername === undefined ? {} : { servername: config.servername }),
  };
  return { ok: true, value: { connect, pins: config.pinnedSha256 ?? [] } };
}

/** Undefined when the certificate is acceptable, else why not (RFC 7469 §2.6 style pin check on the leaf). */
export function pinMismatch(cert: PeerCertificate | undefined, pins: readonly string[]): string | undefined {
  if (pins.length === 0) return undefined;
  const fingerprint = cert?.fingerprint256?.replace(/:/g, '').toUpperCase();
  if (fingerprint === undefined || fingerprint === '') return 'the receiver presented no certificate to check against the pins';
  if (pins.includes(fingerprint)) return undefined;
  return `certificate SHA-256 ${fingerprint} matches none of the ${pins.length} pinned fingerprint(s)`;
}

/** OpenSSL and Node TLS error codes (verification, handshake alerts): a TLS failure, not a TCP one. */
export function isTlsErrorCode(code: string | undefined): boolean {
  if (code === undefined) return false;
  return (
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code === 'EPROTO' ||
    // X.509 verification results (OpenSSL X509_V_ERR_* names as Node reports them)
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT)|CRL|HOSTNAME_MISMATCH/.test(code)
  );
}
