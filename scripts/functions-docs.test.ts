/** The function tables in each index.ts and docs/services.md are the registrations, not hand-kept copies. */
import { describe, expect, it } from 'vitest';
import { commentTable, describeFunctions, replaceBlock, staleDocs } from './functions-docs.js';

describe('generated function tables', () => {
  it('match the registrations (fix: npm run docs)', async () => {
    expect((await staleDocs()).map((s) => s.file.slice(process.cwd().length + 1))).toEqual([]);
  }, 60_000);

  it('show each HTTP route with the access its declaration enforces, and every other trigger', async () => {
    const rows = await describeFunctions();
    expect(rows.find((r) => r.name === 'environmentRetire')).toMatchObject({ kind: 'POST', access: 'tenant admin', detail: '/api/tenants/{tenantId}/environments/{environmentId}/retire' });
    expect(rows.find((r) => r.name === 'platformHousekeepingRun')).toMatchObject({ kind: 'orchestration', access: '' });
    // A schedule like */10 must not end the index.ts comment it is written into.
    expect(commentTable(rows.filter((r) => r.name === 'outboxPublish'))).not.toContain('*/');
  }, 60_000);

  it('replaces only the text between the markers', () => {
    const text = 'a\n<!-- functions:x -->\nold\n<!-- /functions -->\nb';
    expect(replaceBlock(text, 'x', 'new')).toBe('a\n<!-- functions:x -->\nnew\n<!-- /functions -->\nb');
    expect(replaceBlock(text, 'y', 'new')).toBeUndefined();
  });
});
