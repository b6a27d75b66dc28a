/**
 * The Cosmos DB stand-in driven by the real `CosmosClient`, which trusts the stand-in's
 * certificate through its own `https.Agent({ ca })`.
 */
import { CosmosClient, type Container } from '@azure/cosmos';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLocalCert } from './certs.js';
import { startCosmos, type CosmosServer } from './cosmos.js';

interface Snapshot {
  id: string;
  tenantId: string;
  environment: string;
  revision: number;
}

let dir: string;
let cosmos: CosmosServer;
let agent: Agent;
let client: CosmosClient;
let container: Container;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cosmos-test-'));
  const cert = await ensureLocalCert(join(dir, 'certs'));
  cosmos = await startCosmos({ tls: cert });
  agent = new Agent({ ca: cert.cert, keepAlive: true });
  client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key, agent });
  const { database } = await client.databases.createIfNotExists({ id: 'runtime-platform' });
  ({ container } = await database.containers.createIfNotExists({
    id: 'drift-snapshots',
    partitionKey: { paths: ['/tenantId'] },
    defaultTtl: 30 * 86_400,
  }));
});

afterAll(async () => {
  client?.dispose();
  agent?.destroy();
  await cosmos?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('Cosmos DB stand-in', () => {
  it('keeps the container default TTL', async () => {
    const { resource } = await container.read();
    expect(resource?.defaultTtl).toBe(30 * 86_400);
    const again = await client.database('runtime-platform').containers.createIfNotExists({ id: 'drift-snapshots' });
    expect(again.statusCode).toBe(200);
  });

  it('upserts, reads and queries with parameters', async () => {
    await container.items.upsert<Snapshot>({ id: 's1', tenantId: 't1', environment: 'prod', revision: 1 });
    await container.items.upsert<Snapshot>({ id: 's2', tenantId: 't1', environment: 'dev', revision: 1 });
    await container.items.upsert<Snapshot>({ id: 's3', tenantId: 't2', environment: 'prod', revision: 1 });
    await container.items.upsert<Snapshot>({ id: 's1', tenantId: 't1', environment: 'prod', revision: 2 });

    const { resource } = await container.item('s1', 't1').read<Snapshot>();
    expect(resource?.revision).toBe(2);

    const { resources } = await container.items
      .query<Snapshot>({
        query: 'SELECT * FROM c WHERE c.tenantId = @tenant AND c.environment = @env',
        parameters: [
          { name: '@tenant', value: 't1' },
          { name: '@env', value: 'prod' },
        ],
      })
      .fetchAll();
    expect(resources.map((r) => r.id)).toEqual(['s1']);
  });

  it('rejects a replace with a stale ETag with 412', async () => {
    const created = await container.items.create<Snapshot>({ id: 'etag', tenantId: 't1', environment: 'prod', revision: 1 });
    const etag = created.resource?._etag ?? '';
    await container.item('etag', 't1').replace<Snapshot>(
      { id: 'etag', tenantId: 't1', environment: 'prod', revision: 2 },
      { accessCondition: { type: 'IfMatch', condition: etag } },
    );
    await expect(
      container
        .item('etag', 't1')
        .replace<Snapshot>(
          { id: 'etag', tenantId: 't1', environment: 'prod', revision: 3 },
          { accessCondition: { type: 'IfMatch', condition: etag } },
        ),
    ).rejects.toMatchObject({ code: 412 });
  });

  it('answers a missing item with 404', async () => {
    const res = await container.item('missing', 't1').read();
    expect(res.statusCode).toBe(404);
  });
});
