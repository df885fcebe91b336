// The test server's in-memory store: resources by type and id, an identifier index for conditional
// create/update and search, and creation order. With a store file every commit is appended as JSON
// lines in ONE write before the response goes out, so a SIGKILLed server restarts with exactly what it
// committed (a write() survives the process; the test does not simulate power loss).
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type { CreatedEntry, IdentifierCount } from './options.ts';

export interface Stored {
  resource: Resource;
  seq: number;
}

interface Line {
  seq: number;
  resource: Resource;
}

export class Store {
  private readonly byType = new Map<string, Map<string, Stored>>();
  /** type → `system|value` → ids (several = duplicates at the server). */
  private readonly identifiers = new Map<string, Map<string, string[]>>();
  private readonly order: CreatedEntry[] = [];
  private seq = 0;

  constructor(
    private readonly file?: string,
    private readonly slim = false,
  ) {
    if (file && existsSync(file)) {
      for (const text of readFileSync(file, 'utf8').split('\n')) {
        if (text.trim() === '') continue;
        let line: Line;
        try {
          line = JSON.parse(text) as Line;
        } catch {
          continue; // a torn last line from a kill mid-write: that commit never answered
        }
        this.apply(line.resource, line.seq);
      }
    }
  }

  nextId(): string {
    return randomUUID();
  }

  get(type: string, id: string): Stored | undefined {
    return this.byType.get(type)?.get(id);
  }

  all(type: string): Stored[] {
    return [...(this.byType.get(type)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  }

  /** Ids of `type` whose identifiers match `identifier=` search tokens (FHIR R4 search.html §3.1.1.4.1 token). */
  findByIdentifier(type: string, tokens: string[]): string[] {
    const index = this.identifiers.get(type);
    if (!index) return [];
    const ids = new Set<string>();
    for (const token of tokens) {
      const bar = token.indexOf('|');
      if (bar >= 0 && token.slice(bar + 1) !== '') {
        const system = token.slice(0, bar);
        // `|value` = no system; `system|value` = exact.
        for (const id of index.get(`${system}|${token.slice(bar + 1)}`) ?? []) ids.add(id);
      } else if (bar >= 0) {
        const prefix = `${token.slice(0, bar)}|`; // `system|` = any value in that system
        for (const [k, v] of index) if (k.startsWith(prefix)) v.forEach((id) => ids.add(id));
      } else {
        for (const [k, v] of index) if (k.slice(k.indexOf('|') + 1) === token) v.forEach((id) => ids.add(id)); // any system
      }
    }
    return [...ids];
  }

  /** Commit resources (already carrying id and meta) atomically: one append, then the in-memory apply. */
  commit(resources: Resource[]): void {
    const lines: Line[] = resources.map((resource) => ({ seq: ++this.seq, resource: this.slim ? slimmed(resource) : resource }));
    if (this.file) appendFileSync(this.file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    for (const l of lines) this.apply(l.resource, l.seq);
  }

  private apply(resource: Resource, seq: number): void {
    this.seq = Math.max(this.seq, seq);
    const type = resource.resourceType;
    const id = resource.id!;
    let bucket = this.byType.get(type);
    if (!bucket) this.byType.set(type, (bucket = new Map()));
    const previous = bucket.get(id);
    if (previous) this.unindex(type, id, previous.resource);
    bucket.set(id, { resource, seq });
    let index = this.identifiers.get(type);
    if (!index) this.identifiers.set(type, (index = new Map()));
    for (const key of identifierKeys(resource)) {
      const ids = index.get(key);
      if (ids) ids.push(id);
      else index.set(key, [id]);
    }
    if (!previous) {
      const subject = (resource as { subject?: { reference?: string; identifier?: { system?: string; value?: string } } }).subject;
      const o = resource as { effectiveDateTime?: string; effectiveInstant?: string };
      this.order.push({
        seq,
        type,
        id,
        identifier: identifierKeys(resource)[0],
        subject: subject?.identifier ? `${subject.identifier.system ?? ''}|${subject.identifier.value ?? ''}` : subject?.reference,
        effective: o.effectiveDateTime ?? o.effectiveInstant,
      });
    }
  }

  private unindex(type: string, id: string, resource: Resource): void {
    const index = this.identifiers.get(type);
    if (!index) return;
    for (const key of identifierKeys(resource)) {
      const ids = index.get(key)?.filter((x) => x !== id) ?? [];
      if (ids.length === 0) index.delete(key);
      else index.set(key, ids);
    }
  }

  /** `{ identifier, count }` per identifier of `type`; count > 1 is a duplicate at the server. */
  identifierCounts(type: string, duplicatesOnly = false): IdentifierCount[] {
    const out: IdentifierCount[] = [];
    for (const [identifier, ids] of this.identifiers.get(type) ?? []) {
      if (!duplicatesOnly || ids.length > 1) out.push({ identifier, count: ids.length });
    }
    return out;
  }

  creationOrder(type?: string): CreatedEntry[] {
    return type ? this.order.filter((e) => e.type === type) : [...this.order];
  }

  counts(): Record<string, number> {
    return Object.fromEntries([...this.byType].map(([type, m]) => [type, m.size]));
  }

  reset(): void {
    this.byType.clear();
    this.identifiers.clear();
    this.order.length = 0;
    this.seq = 0;
    if (this.file) writeFileSync(this.file, '');
  }
}

export function identifierKeys(resource: Resource): string[] {
  const ids = (resource as { identifier?: { system?: string; value?: string }[] | { system?: string; value?: string } }).identifier;
  const list = Array.isArray(ids) ? ids : ids ? [ids] : [];
  return list.filter((i) => i.value !== undefined).map((i) => `${i.system ?? ''}|${i.value}`);
}

const SLIM_KEYS = ['resourceType', 'id', 'meta', 'identifier', 'subject', 'effectiveDateTime', 'effectiveInstant', 'effectivePeriod'];

function slimmed(resource: Resource): Resource {
  const out: Record<string, unknown> = {};
  const full = resource as unknown as Record<string, unknown>;
  for (const k of SLIM_KEYS) if (full[k] !== undefined) out[k] = full[k];
  return out as unknown as Resource;
}
