import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedTables, END_MARKER, findEmbeddedTables, MarkerError, START_MARKER } from '../scripts/storage-map-docs.js';
import { DRIFT_SNAPSHOT_TTL_SECONDS, storageMap, storageMapMarkdown, storageMapRows } from './storage-map.js';

const root = join(import.meta.dirname, '..');

describe('the storage map in code', () => {
  it('has one row per store of the design, keyed by its own key', () => {
    expect(storageMapRows).toHaveLength(13);
    for (const [key, row] of Object.entries(storageMap)) expect(row.key).toBe(key);
  });

  it('declares the figures the retention timers and the infrastructure program read', () => {
    expect(storageMap.deploymentArtifacts).toMatchObject({ coolAfterDays: 90, retentionDays: 365, container: 'deployment-artifacts' });
    expect(storageMap.driftSnapshots).toMatchObject({ retentionDays: 30, container: 'drift-snapshots', partitionKey: '/tenantId' });
    expect(DRIFT_SNAPSHOT_TTL_SECONDS).toBe(30 * 24 * 60 * 60);
    expect(storageMap.healthRecent.retentionDays).toBe(30);
    expect(storageMap.inventory.purgeRetiredAfterDays).toBe(90);
  });

  it('renders as a Markdown table with the design’s five columns', () => {
    const lines = storageMapMarkdown().split('\n');
    expect(lines[0]).toBe('| Data | Store | Owner service | Access pattern | Retention |');
    expect(lines).toHaveLength(2 + storageMapRows.length);
    for (const line of lines) expect(line.split('|')).toHaveLength(7);
  });
});

describe('the docs embed the storage map from code', () => {
  const tables = findEmbeddedTables(root);

  it('at least one document embeds it', () => {
    expect(tables.map((t) => t.file)).toContain('docs/storage-map.md');
  });

  it.each(tables.map((t, i) => [`${t.file} #${i + 1}`, t.table] as const))(
    '%s equals storageMapMarkdown() (fix: npx tsx scripts/storage-map-docs.ts)',
    (_where, table) => {
      expect(table).toBe(storageMapMarkdown());
    },
  );

  it('rejects unbalanced markers', () => {
    expect(() => embeddedTables(`${START_MARKER}\n| x |`)).toThrow(MarkerError);
    expect(() => embeddedTables(`${END_MARKER}`)).toThrow(MarkerError);
    expect(embeddedTables(`a\n${START_MARKER}\n| t |\n${END_MARKER}\nb ${START_MARKER}| u |${END_MARKER}`)).toEqual(['| t |', '| u |']);
  });
});
