// HTTP(S) for the FHIR destination: node:https with one keep-alive Agent per destination, so a CA bundle
// (added to the system roots) and an mTLS client certificate apply to every request, with a hard timeout.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { errorMessage } from '../../gateway/errors.ts';

export interface HttpTlsOptions {
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export type HttpResult =
  | { ok: true; status: number; headers: Record<string, string | string[] | undefined>; body: unknown; text: string }
  | { ok: false; code: 'GW_ERR_FHIR_NETWORK' | 'GW_ERR_FHIR_TIMEOUT'; reason: string; /** the request may have reached the server */ sent: boolean };

export type HttpClient = (request: HttpRequest) => Promise<HttpResult>;

/** Largest response body read (a 1000-entry batch-response is far below this). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export function createHttpClient(options: { tls?: HttpTlsOptions | undefined; maxSockets: number }): { request: HttpClient; close(): void } {
  const tls = options.tls;
  const httpsAgent = new https.Agent({
    keepAlive: true,
    maxSockets: options.maxSockets,
    // Node's `ca` replaces the built-in roots, so the system roots are listed with the configured bundle.
    ...(tls?.caFile ? { ca: [...rootCertificates, readFileSync(tls.caFile, 'utf8')] } : {}),
    ...(tls?.certFile && tls.keyFile ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {}),
  });
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });

  const request: HttpClient = (req) =>
    new Promise<HttpResult>((resolve) => {
      const target = new URL(req.url);
      const secure = target.protocol === 'https:';
      const origin = target.origin;
      let settled = false;
      let sent = false;
      const finish = (result: HttpResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
      const outgoing = (secure ? https : http).request(
        target,
        {
          method: req.method,
          agent: secure ? httpsAgent : httpAgent,
          headers: { ...(req.headers ?? {}), ...(body ? { 'content-length': String(body.length) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              res.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', (err) => finish({ ok: false, code: 'GW_ERR_FHIR_NETWORK', reason: errorMessage('GW_ERR_FHIR_NETWORK', origin, err.message), sent: true }));
          res.on('aborted', () => finish({ ok: false, code: 'GW_ERR_FHIR_NETWORK', reason: errorMessage('GW_ERR_FHIR_NETWORK', origin, 'response cut off'), sent: true }));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              parsed = undefined; // a proxy's HTML error page: the status decides
            }
            finish({ ok: true, status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
          });
        },
      );
      const timer = setTimeout(() => {
        outgoing.destroy();
        finish({ ok: false, code: 'GW_ERR_FHIR_TIMEOUT', reason: errorMessage('GW_ERR_FHIR_TIMEOUT', origin, req.timeoutMs), sent });
      }, req.timeoutMs);
      const onAbort = (): void => {
        outgoing.destroy();
        finish({ ok: false, code: 'GW_ERR_FHIR_NETWORK', reason: errorMessage('GW_ERR_FHIR_NETWORK', origin, 'request aborted (gateway stopping)'), sent });
      };
      if (req.signal?.aborted) return onAbort();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      outgoing.on('error', (err: NodeJS.ErrnoException) => {
        finish({ ok: false, code: 'GW_ERR_FHIR_NETWORK', reason: errorMessage('GW_ERR_FHIR_NETWORK', origin, err.code ?? err.message), sent });
      });
      outgoing.on('finish', () => {
        sent = true;
      });
      outgoing.end(body);
    });

  return {
    request,
    close() {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  };
}
