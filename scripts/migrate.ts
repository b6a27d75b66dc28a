/**
 * `npm run migrate`: applies every service's migrations to the pooled database and to every
 * siloed tenant's database named in SQL_SILOS. The deployment pipeline runs it before rollout,
 * as the database owner; the local stack runs it on start.
 */
import { pathToFileURL } from 'node:url';
import { loadSqlSettings } from '../shared/settings.js';
import { servicesIn, SqlDatabases } from '../shared/sql/database.js';
import { migrateAll, type MigrationReport } from '../shared/sql/migrator.js';
import { services } from '../composition/services.js';
import { loadServiceMigrations } from '../composition/app.js';

/** Migrates every database the settings in `env` name. */
export async function runMigrations(
  env: Record<string, string | undefined> = process.env,
  log: (line: string) => void = () => undefined,
): Promise<Record<string, MigrationReport[]>> {
  const sql = loadSqlSettings(env);
  let credential;
  if (Object.values({ pooled: sql.pooled, ...sql.silos }).some((t) => t.kind === 'entra')) {
    const { DefaultAzureCredential } = await import('@azure/identity');
    credential = new DefaultAzureCredential();
  }
  const dbs = new SqlDatabases(sql, credential);
  const out: Record<string, MigrationReport[]> = {};
  const serviceMigrations = await loadServiceMigrations(services);
  try {
    for (const { name, db, placement } of dbs.all()) {
      out[name] = await migrateAll(db, servicesIn(placement, serviceMigrations));
      const applied = out[name].flatMap((r) => r.applied.map((m) => `${r.service}/${m}`));
      log(`${name}: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}`);
    }
  } finally {
    await dbs.close();
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runMigrations(process.env, (l) => console.log(l)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
