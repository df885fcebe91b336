// What a FHIR server's answer means (pure): HTTP status + Retry-After → verdict, and a transaction/batch
// response Bundle → one SendOutcome per Observation, in order (FHIR R4 http.html#transaction-response).
import type { Bundle, BundleEntryResponse, OperationOutcome } from '@medplum/fhirtypes';
import { errorMessage } from '../../gateway/errors.ts';
import type { SendOutcome } from '../../gateway/types.ts';
import type { BuiltBundle } from './bundle.ts';

/** Longest Retry-After the destination honours; beyond it dispatch's own back-off takes over. */
export const MAX_RETRY_AFTER_MS = 3600_000;

/**
 * RFC 9110 §10.2.3 Retry-After = HTTP-date / delay-seconds. Returns milliseconds from `nowMs` (≥ 0, capped at
 * MAX_RETRY_AFTER_MS), or undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  // RFC 9110 §5.6.7: IMF-fixdate (and the obsolete RFC 850 / asctime forms, which Date.parse also reads)
  const at = Date.parse(text);
  if (!Number.isFinite(at) || !/[A-Za-z]{3}/.test(text)) return undefined;
  return Math.min(Math.max(0, at - nowMs), MAX_RETRY_AFTER_MS);
}

/** How the destination must treat a whole response to a Bundle (or single) request. Closed set. */
export type Verdict =
  | { kind: 'ok'; status: number; body: unknown }
  /** 401: refresh the token once and resend (SMART Backend Services §token-expiry; RFC 6750 §3.1 invalid_token). */
  | { kind: 'unauthorized'; status: number }
  /** 4xx about the content: a transaction is all-or-nothing, so this names no entry; the caller narrows down. */
  | { kind: 'refused'; status: number; reason: string }
  | { kind: 'retry'; code: RetryCode; reason: string; afterMs?: number };

export type RetryCode = 'GW_ERR_FHIR_HTTP' | 'GW_ERR_FHIR_RATE_LIMITED' | 'GW_ERR_FHIR_AUTH' | 'GW_ERR_FHIR_RESPONSE';

export function classifyStatus(baseUrl: string, status: number, headers: Record<string, string | string[] | undefined>, body: unknown, nowMs: number): Verdict {
  if (status >= 200 && status < 300) return { kind: 'ok', status, body };
  const afterMs = parseRetryAfter(headers['retry-after'], nowMs);
  const after = afterMs === undefined ? {} : { afterMs };
  if (status === 401) return { kind: 'unauthorized', status };
  // RFC 6585 §4 429 Too Many Requests; RFC 9110 §15.6.4 503 Service Unavailable: both may carry Retry-After.
  if (status === 429 || status === 503) {
    return { kind: 'retry', code: 'GW_ERR_FHIR_RATE_LIMITED', reason: errorMessage('GW_ERR_FHIR_RATE_LIMITED', baseUrl, status, afterMs ?? 'unspecified'), ...after };
  }
  // 403: the token lacks a scope or the client is disabled: fix the server side; never dead-letter data for it.
  if (status === 403) return { kind: 'retry', code: 'GW_ERR_FHIR_AUTH', reason: errorMessage('GW_ERR_FHIR_AUTH', baseUrl, `HTTP 403 ${issueCodes(body)}`), ...after };
  // 404/405/406/415: wrong base URL or a server that does not speak FHIR JSON here: configuration, not data.
  // 408 Request Timeout: nothing was processed.
  if (status === 404 || status === 405 || status === 406 || status === 408 || status === 415 || status >= 500 || status < 200 || (status >= 300 && status < 400)) {
    return { kind: 'retry', code: 'GW_ERR_FHIR_HTTP', reason: errorMessage('GW_ERR_FHIR_HTTP', baseUrl, status, issueCodes(body)), ...after };
  }
  return { kind: 'refused', status, reason: `HTTP ${status} ${issueCodes(body)}` };
}

/** The OperationOutcome's issue codes only (no diagnostics: they may quote the resource), for logs and status. */
export function issueCodes(body: unknown): string {
  const oo = body as OperationOutcome | undefined;
  if (oo?.resourceType !== 'OperationOutcome' || !Array.isArray(oo.issue)) return '(no OperationOutcome)';
  return oo.issue.map((i) => `${i.severity}/${i.code}`).join(', ') || '(empty OperationOutcome)';
}

/** Issue codes with diagnostics and expressions: the receiver's words, for the sealed dead-letter store only. */
export function outcomeText(body: unknown): string {
  const oo = body as OperationOutcome | undefined;
  if (oo?.resourceType !== 'OperationOutcome' || !Array.isArray(oo.issue)) return '(no OperationOutcome)';
  return oo.issue
    .map((i) => [`${i.severity}/${i.code}`, i.details?.text, i.diagnostics, i.expression?.join(' ')].filter(Boolean).join(': '))
    .join('; ');
}

/** "201 Created" → 201 (FHIR R4 Bundle.entry.response.status: the status code, optionally followed by the text). */
export function entryStatus(response: BundleEntryResponse | undefined): number | undefined {
  const m = /^\s*(\d{3})\b/.exec(response?.status ?? '');
  return m ? Number(m[1]) : undefined;
}

/** One Observation's outcome from its response entry. `label` names it in reasons (observation id). */
export function entryOutcome(response: BundleEntryResponse | undefined, label: string, fallbackReceipt: string, latencyMs?: number): SendOutcome {
  const status = entryStatus(response);
  if (status === undefined) {
    return { kind: 'retry', code: 'GW_ERR_FHIR_RESPONSE', reason: errorMessage('GW_ERR_FHIR_RESPONSE', label, 'entry without response.status') };
  }
  if (status >= 200 && status < 300) {
    // 201: created; 200: the ifNoneExist search matched, nothing created (FHIR R4 http.html#ccreate)
    return {
      kind: 'delivered',
      receipt: { id: response?.location ?? fallbackReceipt, detail: response?.status ?? String(status), ...(latencyMs === undefined ? {} : { latencyMs }) },
    };
  }
  if (status === 408 || status === 429 || status >= 500) {
    return { kind: 'retry', code: 'GW_ERR_FHIR_ENTRY_ERROR', reason: errorMessage('GW_ERR_FHIR_ENTRY_ERROR', label, `${response?.status} ${issueCodes(response?.outcome)}`) };
  }
  // 4xx for this entry only (412: the conditional create matched more than one resource)
  return { kind: 'rejected', code: 'GW_ERR_FHIR_ENTRY_REJECTED', reason: errorMessage('GW_ERR_FHIR_ENTRY_REJECTED', label, response?.status, outcomeText(response?.outcome)) };
}

/**
 * Map a transaction-response / batch-response Bundle onto the items (entries are in request order,
 * FHIR R4 bundle.html#transaction-response). A response that does not fit is an ambiguous failure:
 * the server may have committed, and the resend is safe because every entry is a conditional create.
 */
export function mapBundleResponse(
  baseUrl: string,
  built: BuiltBundle,
  body: unknown,
  labels: readonly string[],
  latencyMs?: number,
): { ok: true; outcomes: SendOutcome[] } | { ok: false; reason: string } {
  const bundle = body as Bundle | undefined;
  if (bundle?.resourceType !== 'Bundle') return { ok: false, reason: errorMessage('GW_ERR_FHIR_RESPONSE', baseUrl, 'not a Bundle') };
  const expected = built.bundle.type === 'transaction' ? 'transaction-response' : 'batch-response';
  if (bundle.type !== expected) return { ok: false, reason: errorMessage('GW_ERR_FHIR_RESPONSE', baseUrl, `Bundle.type ${bundle.type}, expected ${expected}`) };
  const entries = bundle.entry ?? [];
  if (entries.length !== built.roles.length) {
    return { ok: false, reason: errorMessage('GW_ERR_FHIR_RESPONSE', baseUrl, `${entries.length} response entries for ${built.roles.length} requests`) };
  }
  const outcomes: SendOutcome[] = new Array(labels.length);
  built.roles.forEach((role, i) => {
    if (role.kind !== 'observation') return;
    const label = labels[role.item]!;
    outcomes[role.item] = entryOutcome(entries[i]?.response, label, `Observation?identifier=${label}`, latencyMs);
  });
  return { ok: true, outcomes };
}
