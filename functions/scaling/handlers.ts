/** HTTP handlers of the scaling service: validate (schemas), call the service, shape the response. */
import { z } from '../../shared/http/openapi.js';
import { ApiError, invalid, notFound } from '../../shared/errors.js';
import { decodeKeyset, keysetOf } from '../../shared/http/keyset.js';
import { negotiate } from '../../shared/http/negotiate.js';
import { decodeCursor } from '../../shared/http/pagination.js';
import { route, type TenantAccess } from '../../shared/http/route.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { CatalogApi } from '../catalog/api.js';
import type { DeploymentSource } from './api.js';
import { renderManifest } from './render.js';
import { toYaml } from './yaml.js';
import * as schemas from './schemas.js';
import { deletePolicy, putPolicy, recordEvent, requireLive, toEventDto, toPolicyDto, toVersionDto } from './service.js';
import { SCALING_SQL } from './sql.js';
import * as store from './store.js';

/** What the scaling handlers use. */
export interface ScalingHandlerDeps {
  now: () => Date;
  catalog: Pick<CatalogApi, 'requireService' | 'liveServiceCheck'>;
  /** The deployments service's answer, once plugged in (see api.ts). */
  deployments: () => DeploymentSource | undefined;
}

const TAGS = ['scaling'];
const tenantOf = ({ tenant }: { tenant: TenantAccess }): TenantRef => ({ tenantId: tenant.tenantId, placement: tenant.placement });
const VersionCursor = z.object({ v: z.number().int().min(1).max(2_147_483_647) });

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function scalingHandlers({ now, catalog, deployments }: ScalingHandlerDeps) {
  /** The service must be in the path's environment of this tenant (asked of the catalog). */
  const requireService = (tenant: TenantRef, environmentId: string, serviceId: string) => catalog.requireService(tenant, environmentId, serviceId);

  const put = route({
    summary: "Set a service's scaling policy: a new version (If-Match with the current ETag to replace it; If-None-Match: * only creates)",
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.ServiceParams,
    body: { schema: schemas.PolicySpec, example: schemas.POLICY_EXAMPLE },
    responses: {
      200: { description: 'The policy, replaced (a new version)', schema: schemas.ScalingPolicy },
      201: { description: 'The policy, created (or set again after a deletion)', schema: schemas.ScalingPolicy },
      409: { description: 'maxReplicas is above the tenant quota maxReplicasPerService (QuotaExceeded), or the service is retired (ServiceRetired)' },
      412: { description: 'If-Match is not the current ETag, or If-None-Match: * and a policy exists' },
      428: { description: 'PreconditionRequired: replacing a policy needs If-Match' },
    },
    handler: async (ctx) => {
      const { tenantId, quotas } = ctx.tenant;
      const { environmentId, serviceId } = ctx.params;
      const at = now();
      const target = { tenantId, environmentId, serviceId, maxReplicasPerService: quotas.maxReplicasPerService ?? 0 };
      // The catalog's check that the service is live leads the transaction and share-locks the
      // service, so a retirement waits until the policy is written (and sees it).
      const live = catalog.liveServiceCheck(tenantOf(ctx), environmentId, serviceId);
      const { row, created } = await ctx.tx(
        SCALING_SQL,
        (trx, lead) => {
          const refused = live.refusalOf(lead);
          if (refused) throw refused;
          return putPolicy(trx, target, ctx.body, { ifMatch: ctx.ifMatch, ifNoneMatch: ctx.ifNoneMatch }, ctx.principal.id, at);
        },
        { lead: live.statement },
      );
      const dto = toPolicyDto(requireLive(row, serviceId), at);
      return { status: created ? 201 : 200, body: dto, etag: dto.etag };
    },
  });

  const get = route({
    summary: "Get a service's scaling policy in force (what an evaluator reads on every decision; If-None-Match answers 304)",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ServiceParams,
    responses: { 200: { description: 'The current policy; status says whether a pause is in force', schema: schemas.ScalingPolicy } },
    handler: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      const [row] = await ctx.read(SCALING_SQL, (db) => store.selectLatest(db, ctx.tenant.tenantId, environmentId, serviceId));
      const dto = toPolicyDto(requireLive(row, serviceId), now());
      return { status: 200, body: dto, etag: dto.etag };
    },
  });

  const remove = route({
    summary: "Delete a service's scaling policy (a deletion version; the history stays; honours If-Match)",
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.ServiceParams,
    prepare: async (ctx) => void (await requireService(tenantOf(ctx), ctx.params.environmentId, ctx.params.serviceId)),
    responses: { 204: { description: 'Deleted (or there was none)' }, 412: { description: 'If-Match is not the current ETag' } },
    handler: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      await ctx.tx(SCALING_SQL, (trx) => deletePolicy(trx, { tenantId: ctx.tenant.tenantId, environmentId, serviceId }, ctx.ifMatch, ctx.principal.id, now()));
      return { status: 204 };
    },
  });

  const versions = route({
    summary: "List a service's scaling policy versions, newest first (deletions included); keyset-paginated",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ServiceParams,
    paged: true,
    responses: { 200: { description: 'A page of versions', schema: schemas.ScalingPolicyVersionList } },
    handler: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      const after = decodeCursor(ctx.query.skipToken, VersionCursor);
      const rows = await ctx.read(SCALING_SQL, (db) => store.selectVersions(db, ctx.tenant.tenantId, environmentId, serviceId, after?.v, ctx.pageSize + 1));
      if (rows.length === 0 && !after) await requireService(tenantOf(ctx), environmentId, serviceId);
      return { status: 200, body: ctx.page(rows, (r) => ({ v: r.version }), (r) => toVersionDto(r, Number(r.latest))) };
    },
  });

  const version = route({
    summary: "Get one version of a service's scaling policy",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.VersionParams,
    responses: { 200: { description: 'The version', schema: schemas.ScalingPolicyVersion } },
    handler: async (ctx) => {
      const { environmentId, serviceId, version: v } = ctx.params;
      const [row] = await ctx.read(SCALING_SQL, (db) =>
        store.selectVersions(db, ctx.tenant.tenantId, environmentId, serviceId, v + 1, 1).where('version', '=', v),
      );
      if (!row) throw notFound(`Version ${v} of the scaling policy of service '${serviceId}'`, 'version');
      return { status: 200, body: toVersionDto(row, Number(row.latest)) };
    },
  });

  const manifest = route({
    summary: 'The scaling policy in force compiled for a target: HorizontalPodAutoscaler, KEDA ScaledObject or Container Apps scale (JSON or YAML by Accept)',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ServiceParams,
    query: schemas.ManifestQuery,
    responses: {
      200: { description: 'The manifest', schema: schemas.Manifest, mediaTypes: schemas.MANIFEST_MEDIA_TYPES },
      406: { description: 'NotAcceptable: Accept names neither application/json nor application/yaml' },
      422: { description: 'TargetCannotExpress: the policy holds triggers or features the target cannot express; `details` names each' },
    },
    handler: async (ctx) => {
      const type = negotiate(ctx.request.headers.get('accept'), schemas.MANIFEST_MEDIA_TYPES);
      if (!type) throw new ApiError(406, 'NotAcceptable', `A manifest is sent as ${schemas.MANIFEST_MEDIA_TYPES.join(' or ')}.`, { target: 'Accept' });
      const { environmentId, serviceId } = ctx.params;
      const [row] = await ctx.read(SCALING_SQL, (db) => store.selectLatest(db, ctx.tenant.tenantId, environmentId, serviceId));
      const live = requireLive(row, serviceId);
      const service = await requireService(tenantOf(ctx), environmentId, serviceId);
      const body = renderManifest(
        ctx.query.target,
        live.spec,
        { tenantId: ctx.tenant.tenantId, environmentId, serviceId, serviceName: service.name, policyId: live.policy_id, version: live.version },
        now(),
      );
      return type === 'application/yaml' ? { status: 200, raw: { contentType: type, text: toYaml(body) } } : { status: 200, body };
    },
  });

  const recordEventRoute = route({
    summary: 'Record a scaling event (replicas from → to, the trigger that fired, who saw it); the policy version and deployment in force are added',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.ServiceParams,
    body: { schema: schemas.RecordScalingEvent, example: schemas.EVENT_EXAMPLE },
    idempotent: SCALING_SQL,
    // The catalog and the deployments service are asked before (never inside) this transaction.
    prepare: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      const tenant = tenantOf(ctx);
      await requireService(tenant, environmentId, serviceId);
      const current = await deployments()?.currentDeployment(tenant, environmentId, serviceId);
      // The deployments service knows what ran, if it finished before the event; else the caller may say.
      return current && current.finishedAt.getTime() <= Date.parse(ctx.body.at) ? current.deploymentId : (ctx.body.deploymentId ?? null);
    },
    responses: { 201: { description: 'Recorded', schema: schemas.ScalingEvent } },
    handler: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      const { tenantId } = ctx.tenant;
      const b = ctx.body;
      const input = { at: new Date(b.at), fromReplicas: b.fromReplicas, toReplicas: b.toReplicas, trigger: b.trigger, source: b.source, deploymentId: ctx.prepared };
      const row = await ctx.tx(SCALING_SQL, (trx) => recordEvent(trx, { tenantId, environmentId, serviceId }, input, ctx.principal.id, now()));
      return {
        status: 201,
        body: toEventDto(row),
        headers: { Location: `/api/tenants/${tenantId}/environments/${environmentId}/services/${serviceId}/scaling-events/${row.id}` },
      };
    },
  });

  const listEvents = route({
    summary: "List a service's scaling events in a time range [from, to), oldest first; keyset-paginated",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ServiceParams,
    query: schemas.ListEventsQuery,
    paged: true,
    responses: { 200: { description: 'A page of events', schema: schemas.ScalingEventList } },
    handler: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      const q = ctx.query;
      const from = q.from !== undefined ? new Date(q.from) : undefined;
      const to = q.to !== undefined ? new Date(q.to) : undefined;
      if (from && to && from.getTime() >= to.getTime()) throw invalid('from must be earlier than to.', 'from');
      const pos = decodeKeyset(q.skipToken, 'created');
      const rows = await ctx.read(SCALING_SQL, (db) =>
        store.selectEvents(db, ctx.tenant.tenantId, environmentId, serviceId, {
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
          ...(pos ? { after: { at: new Date(pos.key), id: pos.id } } : {}),
          limit: ctx.pageSize + 1,
        }),
      );
      if (rows.length === 0 && !pos) await requireService(tenantOf(ctx), environmentId, serviceId);
      return { status: 200, body: ctx.page(rows, (r) => keysetOf('created', { name: '', created_at: r.at, id: r.id }), toEventDto) };
    },
  });

  const getEvent = route({
    summary: 'Get a scaling event',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.EventParams,
    responses: { 200: { description: 'The event', schema: schemas.ScalingEvent } },
    handler: async (ctx) => {
      const { environmentId, serviceId, eventId } = ctx.params;
      const [row] = await ctx.read(SCALING_SQL, (db) => store.selectEvent(db, ctx.tenant.tenantId, environmentId, serviceId, eventId));
      if (!row) throw notFound(`Scaling event '${eventId}'`, 'eventId');
      return { status: 200, body: toEventDto(row) };
    },
  });

  return { put, get, remove, versions, version, manifest, recordEvent: recordEventRoute, listEvents, getEvent };
}
