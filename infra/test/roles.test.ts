/**
 * Every role id the program uses is checked against Microsoft's published lists (extracts in
 * `infra/test/data/`, origin and licence in its README): a wrong id, or the right id under the
 * wrong name, fails here instead of in `pulumi up`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { APP_ROLES, builtInRoles, cosmosBuiltInRoles, type RoleRef } from '../src/roles.js';

const data = (file: string) => readFileSync(new URL(`./data/${file}`, import.meta.url), 'utf8');

/** Rows of the built-in roles tables: `> | <a name='…'></a>[Name](…) | Description | id |`. */
function parseBuiltInRoles(markdown: string): Map<string, string> {
  const roles = new Map<string, string>();
  for (const line of markdown.split('\n')) {
    const row = /^> \| <a name='[^']*'><\/a>\[([^\]]+)\]\([^)]*\) \|.*\| ([0-9a-f-]{36}) \|\s*$/.exec(line);
    if (row) roles.set(row[1]!, row[2]!);
  }
  return roles;
}

/** `### <Role name>` followed by `**ID**: \`<id>\``. */
function parseCosmosRoles(markdown: string): Map<string, string> {
  const roles = new Map<string, string>();
  for (const m of markdown.matchAll(/^### (.+)\n\n\*\*ID\*\*: `([0-9a-f-]{36})`/gm)) roles.set(m[1]!, m[2]!);
  return roles;
}

const published = parseBuiltInRoles(data('azure-built-in-roles.md'));
const publishedCosmos = parseCosmosRoles(data('cosmos-data-plane-roles.md'));

const check = (table: Record<string, RoleRef>, list: Map<string, string>) => {
  for (const [key, role] of Object.entries(table)) {
    expect(list.has(role.name), `${key}: "${role.name}" is not in the published list`).toBe(true);
    expect(role.id, `${key}: ${role.name}`).toBe(list.get(role.name));
  }
};

describe('built-in role ids match the published lists', () => {
  it('reads the extracts', () => {
    expect(published.size).toBe(9);
    expect(published.get('AcrPull')).toBe('7f951dda-4ed3-4680-a7ca-43fe172d538d');
    expect(publishedCosmos.size).toBe(2);
  });

  it('every Azure RBAC role in the table has its published name and id', () => {
    check(builtInRoles, published);
  });

  it('every Cosmos DB data-plane role in the table has its published name and id', () => {
    check(cosmosBuiltInRoles, publishedCosmos);
  });

  it('no two entries share an id; the app gets only data-plane roles', () => {
    const ids = Object.values(builtInRoles).map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of APP_ROLES) expect(builtInRoles[r].name).toMatch(/Data (Owner|Contributor)|Secrets Officer|AcrPull/);
    expect(APP_ROLES).not.toContain('contributor');
    expect(APP_ROLES).not.toContain('roleBasedAccessControlAdministrator');
  });

  it('a mistyped id is caught (the check itself works)', () => {
    const wrong = { acrPull: { name: 'AcrPull', id: '7f951dff-4ed4-4ae6-a6a6-07d46d1d7c3d' } };
    expect(() => check(wrong, published)).toThrow();
    const renamed = { acrPull: { name: 'ACR Pull', id: builtInRoles.acrPull.id } };
    expect(() => check(renamed, published)).toThrow();
  });
});
