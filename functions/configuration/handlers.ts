/** HTTP handlers of the configuration service: validate (schemas), call the service, shape the response. */
import type { Compilable, Kysely } from 'kysely';
import { z } from 'zod';
import { notFound } from '../../shared/errors.js';
import { notModified } from '../../shared/http/etag.js';
import { decodeCursor } from '../../shared/http/pagination.js';
import { route, type RouteContext, type TenantAccess } from '../../shared/http/route.js';
import type { SqlDatabases } from '../../shared/sql/database.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { serviceRetired } from '../catalog/api.js';
import type { ConfigurationNeeds } from './api.js';
import { diffSettings } from './diff.js';
import { unknownSecretBinding } from './errors.js';
import * as schemas from './schemas.js';
import { checkSettings, needsSyncRecord, publishVersion, toSummaryDto, toVersionDto, type CheckedSettings } from './service.js';
import { CONFIGURATION_SQL } from './sql.js';
import * as store from './store.js';

/** What the configuration handlers use. */
export interface ConfigurationHandlerDeps {
  now: () => Date;
  /** One-statement writes in one round trip (a publish, after the catalog's check). */
  sql: Pick<SqlDatabases, 'onceAfter'>;
  catalog: Pick<ConfigurationNeeds['catalog'], 'requireService' | 'liveServiceCheck'>;
  secrets: Pick<ConfigurationNeeds['secrets'], 'existingBindings'>;
}

const TAGS = ['configuration'];
const tenantOf = ({ tenant }: { tenant: TenantAccess }): TenantRef => ({ tenantId: tenant.tenantId, placement: tenant.placement });
const keyOf = (ctx: { tenant: TenantAccess; params: { environmentId: string; serviceId: string } }): store.ConfigKey => ({
  tenantId: ctx.tenant.tenantId,
  environmentId: ctx.params.environmentId,
  serviceId: ctx.params.serviceId,
});
const noConfiguration = (serviceId: string) => notFound(`A configuration of service '${serviceId}'`, 'serviceId');
const VersionCursor = z.object({ v: z.number().int().min(1).max(999_999_999) });
const ConsumerCursor = z.object({ c: z.string().max(128) });
type Ctx = RouteContext<z.output<typeof schemas.ConfigurationParams>, unknown, unknown, unknown>;

/** A version as the JSON text of its DTO, with `settingsJson` (the settings' own JSON text) as its settings. */
function versionJson(row: store.VersionRow, settingsJson: string): string {
  const { settings: _settings, ...rest } = toVersionDto(row);
  const head = JSON.stringify(rest);
  return `${head.slice(0, -1)},"settings":${settingsJson}}`;
}

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function configurationHandlers({ now, sql, catalog, secrets }: ConfigurationHandlerDeps) {
  /** The head of a configuration (its latest version's number and ETag), or 404. */
  const head = async (ctx: Ctx) => {
    const [state] = await ctx.read(CONFIGURATION_SQL, (db) => store.selectSyncState(db, keyOf(ctx), undefined));
    if (!state) throw noConfiguration(ctx.params.serviceId);
    return state;
  };

  const put = route({
    summary: 'Publish a new version of a service’s configuration (If-Match: the latest version’s ETag; no secret values)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.ConfigurationParams,
    body: { schema: schemas.PutConfiguration, example: schemas.PUT_EXAMPLE },
    // The settings' own checks, before anything is asked of another service. That the service is
    // live the catalog checks in the publish's own round trip (see the handler); settings that
    // name secret bindings also ask the secrets service, and the catalog first, so that a missing
    // or retired service is answered as such before an unknown binding.
    prepare: async (ctx): Promise<CheckedSettings> => {
      const { environmentId, serviceId } = ctx.params;
      const checked = checkSettings(ctx.body.settings, serviceId);
      const refs = checked.scan.secretRefs;
      if (refs.length > 0) {
        const tenant = tenantOf(ctx);
        const service = await catalog.requireService(tenant, environmentId, serviceId);
        if (service.status === 'retired') throw serviceRetired(serviceId);
        const known = await secrets.existingBindings(tenant, environmentId, refs);
        const missing = refs.filter((n) => !known.has(n));
        if (missing.length > 0) throw unknownSecretBinding(missing);
      }
      return checked;
    },
    responses: {
      200: { description: 'A new version (or, when the settings equal the latest, the latest unchanged)', schema: schemas.ConfigurationVersion },
      201: { description: 'The first version', schema: schemas.ConfigurationVersion },
      400: { description: 'Invalid settings (InvalidRequest), a value that looks like a secret (SecretValueRefused) or a reference to a secret binding that does not exist (UnknownSecretBinding); each names the setting, never its value' },
      409: { description: 'The service is retired (ServiceRetired)' },
      412: { description: 'If-Match is not the latest version’s ETag (or If-None-Match: * and a version exists)' },
      428: { description: 'The configuration exists and If-Match is missing (PreconditionRequired)' },
    },
    handler: async (ctx) => {
      const k = keyOf(ctx);
      const scope = tenantOf(ctx);
      // The catalog's check that the service is live runs ahead of the publish, in its round trip.
      const live = catalog.liveServiceCheck(scope, k.environmentId, k.serviceId);
      const run = {
        once: <Row>(build: (db: Kysely<store.ConfigurationDb>) => Compilable<Row>) => sql.onceAfter(scope, live.statement, CONFIGURATION_SQL, build),
        read: <Row>(build: (db: Kysely<store.ConfigurationDb>) => Compilable<Row>) => ctx.read(CONFIGURATION_SQL, build),
      };
      const { row, created, changed } = await publishVersion(run, k, ctx.body, ctx.prepared, { ifMatch: ctx.ifMatch, ifNoneMatch: ctx.ifNoneMatch }, ctx.principal.id, now(), live);
      // A new version's settings are the text already written for the database: spliced in, not
      // serialized a second time (a large document is most of the answer).
      if (changed) return { status: created ? 201 : 200, raw: { contentType: 'application/json', text: versionJson(row, ctx.prepared.json) }, etag: row.etag };
      return { status: 200, body: toVersionDto(row), etag: row.etag };
    },
  });

  const get = route({
    summary: 'Get the latest configuration (If-None-Match: 304 when unchanged; ?consumer= records the sync)',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ConfigurationParams,
    query: schemas.GetConfigurationQuery,
    responses: {
      200: { description: 'The latest version', schema: schemas.ConfigurationVersion },
      304: { description: 'If-None-Match holds the latest version’s ETag: nothing changed' },
    },
    handler: async (ctx) => {
      const k = keyOf(ctx);
      const consumer = ctx.query.consumer;
      // The hot path: one statement (the head's and the consumer's primary keys).
      const [state] = await ctx.read(CONFIGURATION_SQL, (db) => store.selectSyncState(db, k, consumer));
      if (!state?.latest_etag) throw noConfiguration(k.serviceId);
      const at = now();
      const record = (version: number) => ctx.tx(CONFIGURATION_SQL, (trx) => store.recordSync(trx, k, consumer!, version, ctx.principal.id, at));
      // The pipeline's own If-None-Match rule (weak comparison, `*`), here before the settings are read.
      if (notModified(ctx.request.headers.get('if-none-match'), state.latest_etag)) {
        if (consumer !== undefined && needsSyncRecord(state, at)) await record(state.latest_version);
        return { status: 304, etag: state.latest_etag };
      }
      const [row] = await ctx.read(CONFIGURATION_SQL, (db) => store.selectVersion(db, k, state.latest_version));
      if (!row) throw noConfiguration(k.serviceId);
      if (consumer !== undefined) await record(row.version);
      return { status: 200, body: toVersionDto(row), etag: row.etag };
    },
  });

  const listVersions = route({
    summary: 'List a configuration’s versions, newest first (without their settings); keyset-paginated',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ConfigurationParams,
    paged: true,
    responses: { 200: { description: 'A page of versions, newest first', schema: schemas.ConfigurationVersionList } },
    handler: async (ctx) => {
      const after = decodeCursor(ctx.query.skipToken, VersionCursor);
      const rows = await ctx.read(CONFIGURATION_SQL, (db) => store.selectVersions(db, keyOf(ctx), after?.v, ctx.pageSize + 1));
      if (rows.length === 0 && !after) throw noConfiguration(ctx.params.serviceId);
      return { status: 200, body: ctx.page(rows, (r) => ({ v: r.version }), toSummaryDto) };
    },
  });

  const getVersion = route({
    summary: 'Get one version of a configuration',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.VersionParams,
    responses: { 200: { description: 'The version', schema: schemas.ConfigurationVersion } },
    handler: async (ctx) => {
      const version = Number(ctx.params.version);
      const [row] = await ctx.read(CONFIGURATION_SQL, (db) => store.selectVersion(db, keyOf(ctx), version));
      if (!row) throw notFound(`Version ${version} of the configuration`, 'version');
      return { status: 200, body: toVersionDto(row), etag: row.etag };
    },
  });

  const diff = route({
    summary: 'What changed between two versions: added, removed and changed settings (JSON Pointers)',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ConfigurationParams,
    query: schemas.DiffQuery,
    responses: { 200: { description: 'The difference from `from` to `to`', schema: schemas.ConfigurationDiff } },
    handler: async (ctx) => {
      const k = keyOf(ctx);
      const to = ctx.query.to !== undefined ? Number(ctx.query.to) : (await head(ctx)).latest_version;
      // The first version's default is "nothing before it": every setting added.
      const from = ctx.query.from !== undefined ? Number(ctx.query.from) : to - 1;
      const rows = await ctx.read(CONFIGURATION_SQL, (db) => store.selectVersion(db, k, to).union(store.selectVersion(db, k, from)));
      const settingsOf = (v: number) => {
        if (v === 0) return {};
        const r = rows.find((x) => x.version === v);
        if (!r) throw notFound(`Version ${v} of the configuration`, v === to ? 'to' : 'from');
        return r.settings;
      };
      const older = settingsOf(from);
      return { status: 200, body: { from, to, ...diffSettings(older, settingsOf(to)) } };
    },
  });

  const listConsumers = route({
    summary: 'List who syncs a configuration and the version each runs (?olderThanLatest=true: those behind); keyset-paginated',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ConfigurationParams,
    query: schemas.ConsumersQuery,
    paged: true,
    responses: { 200: { description: 'A page of consumers, by name', schema: schemas.ConfigurationConsumerList } },
    handler: async (ctx) => {
      const after = decodeCursor(ctx.query.skipToken, ConsumerCursor);
      const rows = await ctx.read(CONFIGURATION_SQL, (db) =>
        store.selectConsumers(db, keyOf(ctx), { olderThanLatest: ctx.query.olderThanLatest === 'true', ...(after ? { after: after.c } : {}), limit: ctx.pageSize + 1 }),
      );
      if (rows.length === 0 && !after) await head(ctx);
      return {
        status: 200,
        body: ctx.page(
          rows,
          (r) => ({ c: r.consumer }),
          (r) => ({
            consumer: r.consumer,
            version: r.version,
            latestVersion: r.latest_version,
            behind: r.version < r.latest_version,
            syncedAt: r.synced_at.toISOString(),
            syncedBy: r.synced_by,
            lastSeenAt: r.last_seen_at.toISOString(),
          }),
        ),
      };
    },
  });

  return { put, get, listVersions, getVersion, diff, listConsumers };
}
