// RFC 9457 problem details: every refusal names its code and, per field, a JSON pointer.
import type { FastifyReply } from 'fastify';
import { errorRegistry, httpStatusOf, type ErrorCode } from '../errors.ts';
import type { Issue } from '../types.ts';

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: Array<{ code: string; detail: string; pointer?: string; path?: string }>;
}

const titles: Partial<Record<number, string>> = {
  400: 'Invalid reading',
  401: 'Unauthorized',
  404: 'Not found',
  409: 'Conflict',
  413: 'Request body too large',
  500: 'Internal error',
  503: 'Intake unavailable',
};

/** `components[0].unit` → `#/components/0/unit` (RFC 6901 pointer into the request body). */
export function pointerOf(path: string): string {
  const parts = path.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '');
  return '#/' + parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

export function problem(code: string, detail: string, issues: Issue[] = []): ProblemDocument {
  const status = httpStatusOf(code);
  const doc: ProblemDocument = {
    type: `urn:rpm-gateway:problem:${code}`,
    title: titles[status] ?? 'Error',
    status,
    detail,
    code,
  };
  if (issues.length > 0) {
    doc.errors = issues.map((i) =>
      i.path === undefined ? { code: i.code, detail: i.message } : { code: i.code, detail: i.message, pointer: pointerOf(i.path), path: i.path },
    );
  }
  return doc;
}

export function sendProblem(reply: FastifyReply, doc: ProblemDocument, status = doc.status): FastifyReply {
  return reply.code(status).type('application/problem+json').send(doc);
}

export function isErrorCode(code: string): code is ErrorCode {
  return code in errorRegistry;
}
