/**
 * The storage map's table in the docs. README.md and every Markdown file under docs/ may embed
 * the table between `<!-- storage-map:start -->` and `<!-- storage-map:end -->`; the text between
 * the markers must equal `storageMapMarkdown()`. shared/storage-map.test.ts fails when it does
 * not; `npx tsx scripts/storage-map-docs.ts` rewrites every embedded table from the code.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { storageMapMarkdown } from '../shared/storage-map.js';

export const START_MARKER = '<!-- storage-map:start -->';
export const END_MARKER = '<!-- storage-map:end -->';

/** One embedded table: where it is and what it says. */
export interface EmbeddedTable {
  file: string;
  /** The text between the markers, trimmed. */
  table: string;
}

/** Raised when markers are unbalanced or nested. */
export class MarkerError extends Error {
  override name = 'MarkerError';
}

/** README.md and the Markdown files under docs/ (recursively), relative to `root`. */
export function docFiles(root: string): string[] {
  const out: string[] = [];
  if (existsSync(join(root, 'README.md'))) out.push('README.md');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) out.push(path);
    }
  };
  if (existsSync(join(root, 'docs'))) walk('docs');
  return out.sort();
}

/** The tables embedded in one document's text, in order. */
export function embeddedTables(text: string, file = '<text>'): string[] {
  const tables: string[] = [];
  let at = 0;
  for (;;) {
    const start = text.indexOf(START_MARKER, at);
    const strayEnd = text.indexOf(END_MARKER, at);
    if (start === -1) {
      if (strayEnd !== -1) throw new MarkerError(`${file}: ${END_MARKER} without ${START_MARKER}`);
      return tables;
    }
    if (strayEnd !== -1 && strayEnd < start) throw new MarkerError(`${file}: ${END_MARKER} without ${START_MARKER}`);
    const end = text.indexOf(END_MARKER, start);
    if (end === -1) throw new MarkerError(`${file}: ${START_MARKER} without ${END_MARKER}`);
    const body = text.slice(start + START_MARKER.length, end);
    if (body.includes(START_MARKER)) throw new MarkerError(`${file}: nested ${START_MARKER}`);
    tables.push(body.trim());
    at = end + END_MARKER.length;
  }
}

/** Every embedded table under `root`. */
export function findEmbeddedTables(root: string): EmbeddedTable[] {
  return docFiles(root).flatMap((file) =>
    embeddedTables(readFileSync(join(root, file), 'utf8'), file).map((table) => ({ file, table })),
  );
}

/** Replaces every embedded table under `root` with the code's; returns the files it changed. */
export function syncStorageMapDocs(root: string): string[] {
  const changed: string[] = [];
  const table = storageMapMarkdown();
  for (const file of docFiles(root)) {
    const path = join(root, file);
    const text = readFileSync(path, 'utf8');
    if (!text.includes(START_MARKER)) continue;
    embeddedTables(text, file); // validates the markers before rewriting
    const next = text.replace(
      new RegExp(`${escape(START_MARKER)}[\\s\\S]*?${escape(END_MARKER)}`, 'g'),
      `${START_MARKER}\n${table}\n${END_MARKER}`,
    );
    if (next !== text) {
      writeFileSync(path, next);
      changed.push(file);
    }
  }
  return changed;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = process.cwd();
  const changed = syncStorageMapDocs(root);
  console.log(changed.length ? `updated: ${changed.map((f) => relative(root, join(root, f))).join(', ')}` : 'storage map tables are up to date');
}
