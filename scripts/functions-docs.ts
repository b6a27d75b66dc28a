/**
 * The function tables in the docs, generated from the registrations (not kept by hand): each
 * service's `index.ts` comment and docs/services.md embed its table between
 * `<!-- functions:<service> -->` and `<!-- /functions -->`. scripts/functions-docs.test.ts fails
 * when an embedded table differs from the registrations; `npm run docs` rewrites them.
 *
 * The tables come from the composed app with every route loaded, so an HTTP route shows the access
 * its declaration gives it, and a timer its schedule: exactly what the host indexes and enforces.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { services } from '../composition/services.js';
import type { RouteAccess } from '../shared/http/route.js';
import type { FunctionEntry } from '../shared/registrar.js';
import { composeOffline } from './offline-app.js';

/** One function as the docs show it. */
export interface FunctionRow {
  service: string;
  name: string;
  /** The method of an HTTP route, else the trigger kind (`timer`, `queue`, `orchestration` …). */
  kind: string;
  /** The route (`/api/…`), the schedule or the queue; empty for Durable Functions kinds. */
  detail: string;
  /** Who may call an HTTP route; empty for other triggers. */
  access: string;
  /** The route's summary, or what a non-HTTP function does. */
  description: string;
}

function accessOf(a: RouteAccess): string {
  if ('anonymous' in a) return 'anonymous';
  if ('platformAdmin' in a) return 'platform admin';
  if ('tenantRole' in a) return `tenant ${a.tenantRole}${a.fresh ? ' (checked fresh)' : ''}`;
  return a.platformAdminsSeeAll ? 'any caller: its own tenants (platform admins: all)' : 'any caller: only what is its own';
}

function triggerOf(e: FunctionEntry): { kind: string; detail: string } {
  if (e.trigger === 'http') return { kind: e.method ?? '', detail: `/api/${e.route}` };
  if (e.trigger === 'timer') return { kind: 'timer', detail: e.schedule ?? '' };
  if (e.trigger === 'queue') return { kind: 'queue', detail: e.queueName ?? '' };
  return { kind: e.trigger, detail: '' };
}

/** Every registered function, with what its declaration says, in registration order. */
export async function describeFunctions(): Promise<FunctionRow[]> {
  const { registrar, app, close } = await composeOffline();
  try {
    return registrar.entries.map((e) => {
      const route = e.trigger === 'http' ? app.routes.routes.find((r) => r.name === e.name) : undefined;
      return {
        service: e.service,
        name: e.name,
        ...triggerOf(e),
        access: route ? accessOf(route.access) : '',
        description: route ? route.summary : (e.description ?? ''),
      };
    });
  } finally {
    await close();
  }
}

/** The Markdown table of one service's functions (docs/services.md). */
export function markdownTable(rows: FunctionRow[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| Function | Trigger | Access | What it does |',
    '|---|---|---|---|',
    ...rows.map((r) => `| \`${r.name}\` | ${r.kind}${r.detail ? ` \`${esc(r.detail)}\`` : ''} | ${r.access || '—'} | ${esc(r.description)} |`),
  ].join('\n');
}

/** The plain-text table of one service's functions (its index.ts comment), one line each, aligned. */
export function commentTable(rows: FunctionRow[]): string {
  // `*/` would end the comment (NCRONTAB `*/10`): written `*\/` there.
  const plain = rows.map((r) => [r.kind, r.detail.replace(/\*\//g, '*\\/'), r.name, r.access]);
  const width = [0, 1, 2].map((i) => Math.max(...plain.map((p) => p[i]!.length)));
  return plain.map((p) => ` *   ${p.map((c, i) => (i < 3 ? c.padEnd(width[i]!) : c)).join('  ')}`.trimEnd()).join('\n');
}

const start = (service: string) => `<!-- functions:${service} -->`;
const END = '<!-- /functions -->';

/** Replaces the text between a service's markers; `undefined` when the markers are absent. */
export function replaceBlock(text: string, service: string, block: string, commentPrefix = ''): string | undefined {
  const a = text.indexOf(start(service));
  if (a === -1) return undefined;
  const b = text.indexOf(END, a);
  if (b === -1) throw new Error(`${start(service)} without ${END}`);
  const head = text.slice(0, a + start(service).length);
  const tail = text.slice(b);
  return `${head}\n${block}\n${commentPrefix}${tail}`;
}

/** Every file whose embedded tables differ from the registrations, with its expected text. */
export async function staleDocs(root = process.cwd()): Promise<{ file: string; expected: string }[]> {
  const rows = await describeFunctions();
  const out: { file: string; expected: string }[] = [];
  const servicesDoc = join(root, 'docs', 'services.md');
  let doc = readFileSync(servicesDoc, 'utf8');
  for (const s of services) {
    const mine = rows.filter((r) => r.service === s.name);
    const index = join(root, 'functions', s.name, 'index.ts');
    const text = readFileSync(index, 'utf8');
    const expected = replaceBlock(text, s.name, commentTable(mine), ' * ');
    if (expected === undefined) throw new Error(`functions/${s.name}/index.ts has no ${start(s.name)} block`);
    if (expected !== text) out.push({ file: index, expected });
    const d = replaceBlock(doc, s.name, markdownTable(mine));
    if (d === undefined) throw new Error(`docs/services.md has no ${start(s.name)} block`);
    doc = d;
  }
  if (doc !== readFileSync(servicesDoc, 'utf8')) out.push({ file: servicesDoc, expected: doc });
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  staleDocs()
    .then((stale) => {
      for (const s of stale) {
        writeFileSync(s.file, s.expected);
        console.log(`rewrote ${s.file.slice(process.cwd().length + 1)}`);
      }
      if (stale.length === 0) console.log('function tables are up to date');
    })
    .catch((e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    });
}
