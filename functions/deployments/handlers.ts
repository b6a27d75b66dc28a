/** HTTP handlers of the deployments service: validate (schemas), call the service, shape the response. */
import type { z } from 'zod';
import { invalid, isUnavailableError, notFound } from '../../shared/errors.js';
import { checkAbsent, checkEtag, concurrentlyChanged } from '../../shared/http/etag.js';
import { decodeCursor } from '../../shared/http/pagination.js';
import { createdRange } from '../../shared/http/keyset.js';
import { z as zod } from '../../shared/http/openapi.js';
import { route, type RouteContext, type TenantAccess } from '../../shared/http/route.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { serviceRetired } from '../catalog/api.js';
import { environmentRetired } from '../environments/api.js';
import type { DeploymentPorts } from './api.js';
import { ShortBodyError, type BodyStream } from './blobs.js';
import { imageDigestRequired } from './errors.js';
import { parseImage } from './images.js';
import * as schemas from './schemas.js';
import { createDeployment, rollback, stepStatusAfter, toDeploymentDto, transition, type Rollout } from './service.js';
import * as store from './store.js';
import { DEPLOYMENTS_SQL } from './sql.js';

/** What the deployments handlers use. */
export interface DeploymentHandlerDeps {
  now: () => Date;
  /** Read on every request: configuration, scaling and secrets join when they are wired in. */
  ports: DeploymentPorts;
}

/** The largest artifact or log write one request may carry. */
export const MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;

const TAGS = ['deployments'];
const tenantOf = ({ tenant }: { tenant: TenantAccess }): TenantRef => ({ tenantId: tenant.tenantId, placement: tenant.placement });
const location = (tenantId: string, environmentId: string, id: string) => `/api/tenants/${tenantId}/environments/${environmentId}/deployments/${id}`;
const Cursor = zod.object({ c: zod.iso.datetime(), i: zod.string().max(64) });

const STREAM = { mediaTypes: schemas.ARTIFACT_MEDIA, maxBytes: MAX_UPLOAD_BYTES, example: 'step 1/3: pulling image\n' };

/** An artifact's version: its blob (new on every whole upload) and size (grows on every append). */
const artifactEtag = (r: Pick<store.ArtifactRow, 'blob_name' | 'bytes'> | undefined) => (r ? `${r.blob_name.split('/').at(-1)}.${Number(r.bytes)}` : undefined);

function toArtifactDto(r: store.ArtifactRow): schemas.ArtifactDto {
  return {
    name: r.name,
    kind: r.kind,
    step: r.step,
    contentType: r.content_type,
    bytes: Number(r.bytes),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    etag: artifactEtag(r)!,
  };
}
const toStepDto = (s: store.StepRow) => ({ name: s.name, status: s.status, message: s.message, startedAt: s.started_at.toISOString(), updatedAt: s.updated_at.toISOString() });

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function deploymentHandlers(deps: DeploymentHandlerDeps) {
  const { now, ports } = deps;
  const blobs = ports.blobs;

  /** What a new deployment of `serviceId` rolls out, asked of the services that own each part. */
  const gather = async (tenant: TenantRef, environmentId: string, serviceId: string, image: string): Promise<Rollout> => {
    const env = await ports.environments.getEnvironment(tenant, environmentId);
    if (!env) throw notFound(`Environment '${environmentId}'`, 'environmentId');
    if (env.status === 'retired') throw environmentRetired(environmentId);
    const service = await ports.catalog.getService(tenant, serviceId);
    if (!service || service.environmentId !== environmentId) throw notFound(`Service '${serviceId}' in environment '${environmentId}'`, 'body.serviceId');
    if (service.status === 'retired') throw serviceRetired(serviceId);
    const ref = parseImage(image);
    if (!ref) throw invalid('The image reference is malformed.', 'body.image');
    let digest = ref.digest ?? null;
    if (!digest && ref.tag) digest = (await ports.resolver.resolve({ registry: ref.registry, repository: ref.repository, tag: ref.tag })) ?? null;
    if (!digest && env.kind === 'prod') throw imageDigestRequired(image, 'that the registry did not resolve to a digest');
    const [configuration, policy, bindings] = await Promise.all([
      ports.configuration?.latestVersion(tenant, environmentId, serviceId),
      ports.scaling?.currentPolicy(tenant, environmentId, serviceId),
      ports.secrets?.bindingVersions(tenant, environmentId, serviceId),
    ]);
    const secretVersions: Record<string, string> = {};
    for (const b of bindings ?? []) if (b.currentVersion !== null) secretVersions[b.name] = b.currentVersion;
    return {
      serviceId,
      image,
      imageDigest: digest,
      configurationVersion: configuration?.version ?? null,
      scalingPolicy: policy ? { policyId: policy.policyId, version: policy.version } : null,
      secretVersions,
      kind: 'rollout',
    };
  };

  const create = route({
    summary: 'Create a deployment of a catalog service (counts against the tenant quota maxDeploymentsPerDay)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.EnvironmentParams,
    body: { schema: schemas.CreateDeployment, example: schemas.CREATE_EXAMPLE },
    idempotent: DEPLOYMENTS_SQL,
    prepare: (ctx) => gather(tenantOf(ctx), ctx.params.environmentId, ctx.body.serviceId, ctx.body.image),
    responses: {
      201: { description: 'Created (pending)', schema: schemas.Deployment },
      409: { description: 'Quota reached (QuotaExceeded), or the environment or service is retired (EnvironmentRetired, ServiceRetired)' },
      422: { description: 'A mutable tag for a prod environment that the registry did not resolve (ImageDigestRequired)' },
    },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const tenant = { tenantId: ctx.tenant.tenantId, maxDeploymentsPerDay: ctx.tenant.quotas.maxDeploymentsPerDay ?? 0 };
      // The catalog's check leads the transaction again, share-locking the service: a retirement
      // waits for this deployment to be written, and its listener then cancels it.
      const live = ports.catalog.liveServiceCheck(tenantOf(ctx), environmentId, ctx.body.serviceId);
      const row = await ctx.tx(
        DEPLOYMENTS_SQL,
        (trx, lead) => {
          const refused = live.refusalOf(lead);
          if (refused) throw refused;
          return createDeployment(trx, tenant, environmentId, ctx.prepared, ctx.principal.id, ctx.body.reason ?? null, now());
        },
        { lead: live.statement },
      );
      return { status: 201, body: toDeploymentDto(row), headers: { Location: location(tenant.tenantId, environmentId, row.id) } };
    },
  });

  const list = route({
    summary: "An environment's deployment history, newest first: by service, status and creation-time range; keyset-paginated",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.EnvironmentParams,
    query: schemas.ListDeploymentsQuery,
    paged: true,
    responses: { 200: { description: 'A page of deployments, newest first', schema: schemas.DeploymentList } },
    handler: async (ctx) => {
      const q = ctx.query;
      const { environmentId } = ctx.params;
      const range = createdRange(q);
      const position = decodeCursor(q.skipToken, Cursor);
      const rows = await ctx.read(DEPLOYMENTS_SQL, (db) =>
        store.selectHistory(db, ctx.tenant.tenantId, {
          environmentId,
          ...(q.serviceId ? { serviceId: q.serviceId } : {}),
          ...(q.status && q.status !== 'all' ? { statuses: q.status.split(',') as store.DeploymentStatus[] } : {}),
          ...(range.after ? { after: range.after } : {}),
          ...(range.before ? { before: range.before } : {}),
          ...(position ? { position: { createdAt: new Date(position.c), id: position.i } } : {}),
          limit: ctx.pageSize + 1,
        }),
      );
      if (rows.length === 0 && !(await ports.environments.getEnvironment(tenantOf(ctx), environmentId))) throw notFound(`Environment '${environmentId}'`, 'environmentId');
      return { status: 200, body: ctx.page(rows, (r) => ({ c: r.created_at.toISOString(), i: r.id }), toDeploymentDto) };
    },
  });

  type DeploymentCtx = RouteContext<z.output<typeof schemas.DeploymentParams>, unknown, unknown, unknown>;
  const load = async (ctx: DeploymentCtx) => {
    const { environmentId, deploymentId } = ctx.params;
    const [row] = await ctx.read(DEPLOYMENTS_SQL, (db) => store.selectDeployment(db, ctx.tenant.tenantId, deploymentId, environmentId));
    if (!row) throw notFound(`Deployment '${deploymentId}'`, 'deploymentId');
    return row;
  };

  const get = route({
    summary: 'Get a deployment with its transitions and steps',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.DeploymentParams,
    responses: { 200: { description: 'The deployment', schema: schemas.DeploymentDetail } },
    handler: async (ctx) => {
      const row = await load(ctx);
      const [transitions, steps] = await Promise.all([
        ctx.read(DEPLOYMENTS_SQL, (db) => store.selectTransitions(db, row.tenant_id, row.id)),
        ctx.read(DEPLOYMENTS_SQL, (db) => store.selectSteps(db, row.tenant_id, row.id)),
      ]);
      return {
        status: 200,
        body: {
          ...toDeploymentDto(row),
          transitions: transitions.map((x) => ({ from: x.from_status, to: x.to_status, at: x.at.toISOString(), by: x.by, reason: x.reason })),
          steps: steps.map(toStepDto),
        },
      };
    },
  });

  const transitionRoute = route({
    summary: 'Move a deployment along its state machine (pending → in_progress → succeeded | failed | cancelled)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.DeploymentParams,
    body: { schema: schemas.Transition, example: { to: 'in_progress', reason: 'pipeline run 4711 started' } },
    responses: {
      200: { description: 'The deployment after the transition', schema: schemas.Deployment },
      409: { description: 'The state machine does not allow it (InvalidTransition), or another deployment of the service is in progress (DeploymentInProgress)' },
    },
    handler: async (ctx) => {
      const { environmentId, deploymentId } = ctx.params;
      const row = await ctx.tx(DEPLOYMENTS_SQL, (trx) =>
        transition(trx, ctx.tenant.tenantId, environmentId, deploymentId, ctx.body.to, ctx.principal.id, ctx.body.reason ?? null, now()),
      );
      return { status: 200, body: toDeploymentDto(row) };
    },
  });

  const rollbackRoute = route({
    summary: "Roll back a service's current deployment: a new deployment restoring an earlier one (image digest, configuration, secret and scaling versions)",
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.DeploymentParams,
    body: { schema: schemas.Rollback, example: { reason: 'error rate above 5% after 1.4.2' } },
    responses: {
      201: { description: 'The rollback deployment (pending)', schema: schemas.Deployment },
      409: { description: 'Not the current succeeded deployment (InvalidTransition, InvalidRollback), no target (InvalidRollback), or quota reached (QuotaExceeded)' },
    },
    handler: async (ctx) => {
      const { environmentId, deploymentId } = ctx.params;
      const tenant = { tenantId: ctx.tenant.tenantId, maxDeploymentsPerDay: ctx.tenant.quotas.maxDeploymentsPerDay ?? 0 };
      const r = await ctx.tx(DEPLOYMENTS_SQL, (trx) =>
        rollback(trx, tenant, environmentId, deploymentId, ctx.body.targetDeploymentId, ctx.principal.id, ctx.body.reason ?? null, now()),
      );
      return { status: 201, body: toDeploymentDto(r.rollback), headers: { Location: location(tenant.tenantId, environmentId, r.rollback.id) } };
    },
  });

  const rollbackTargets = route({
    summary: "A service's rollback targets (its succeeded deployments with everything they restore), newest first; keyset-paginated",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ServiceParams,
    paged: true,
    responses: { 200: { description: 'Rollback targets, newest first; the first may be the current deployment', schema: schemas.RollbackTargetList } },
    handler: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      const tenantId = ctx.tenant.tenantId;
      const position = decodeCursor(ctx.query.skipToken, Cursor);
      const [rows, [current]] = await Promise.all([
        ctx.read(DEPLOYMENTS_SQL, (db) =>
          store.selectSucceeded(db, tenantId, environmentId, serviceId, ctx.pageSize + 1, position ? { createdAt: new Date(position.c), id: position.i } : undefined),
        ),
        ctx.read(DEPLOYMENTS_SQL, (db) => store.selectSucceeded(db, tenantId, environmentId, serviceId, 1)),
      ]);
      if (rows.length === 0) {
        await ports.catalog.requireService(tenantOf(ctx), environmentId, serviceId);
      }
      const body = ctx.page(
        rows,
        (r) => ({ c: r.finished_at!.toISOString(), i: r.id }),
        (r) => ({
          deploymentId: r.id,
          revision: r.revision,
          image: r.image,
          imageDigest: r.image_digest,
          configurationVersion: r.configuration_version,
          scalingPolicy: toDeploymentDto(r).scalingPolicy,
          secretVersions: r.secret_versions,
          succeededAt: r.finished_at!.toISOString(),
          by: r.finished_by ?? r.created_by,
          current: r.id === current?.id,
        }),
      );
      return { status: 200, body };
    },
  });

  // ---- Steps and artifacts ----------------------------------------------------------------------

  const bodyOf = (ctx: { request: { body: unknown } }): BodyStream => {
    const body = ctx.request.body as BodyStream | null;
    return body ?? (async function* () {})();
  };
  const lengthOf = (ctx: { request: { headers: Headers } }) => Number(ctx.request.headers.get('content-length'));
  const mediaOf = (ctx: { request: { headers: Headers } }) => (ctx.request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const short = (e: unknown) => (e instanceof ShortBodyError ? invalid(e.message, 'Content-Length') : e);
  const newBlobName = (tenantId: string, deploymentId: string, name: string, at: Date) => `${tenantId}/${deploymentId}/${name}/${at.getTime()}-${Math.random().toString(16).slice(2, 10)}`;

  /** Writes a whole blob, then points the artifact row at it (and drops the blob it replaced). */
  const writeArtifact = async (ctx: DeploymentCtx, dep: store.DeploymentRow, name: string, kind: store.ArtifactKind, step: string | null, after: (trx: store.Tx, at: Date) => Promise<unknown>) => {
    const conditional = ctx.ifMatch !== undefined || ctx.ifNoneMatch !== undefined;
    let seen: string | undefined;
    if (conditional) {
      // Checked before the bytes are read, and again under the row's lock before the switch.
      const [current] = await ctx.read(DEPLOYMENTS_SQL, (db) => store.selectArtifact(db, dep.tenant_id, dep.id, name));
      seen = artifactEtag(current);
      checkEtag(ctx.ifMatch, seen);
      checkAbsent(ctx.ifNoneMatch, seen);
    }
    const at = now();
    const blobName = newBlobName(dep.tenant_id, dep.id, name, at);
    const length = lengthOf(ctx);
    const contentType = mediaOf(ctx);
    await blobs.write(blobName, bodyOf(ctx), length, contentType, { tenant: dep.tenant_id, deployment: dep.id });
    let previous: string | undefined;
    try {
      const row = await ctx.tx(DEPLOYMENTS_SQL, async (trx) => {
        await store.lockArtifact(trx, dep.tenant_id, dep.id, name);
        const current = await store.getArtifact(trx, dep.tenant_id, dep.id, name);
        if (conditional && artifactEtag(current) !== seen) throw concurrentlyChanged('artifact');
        previous = current?.blob_name;
        const r = await store.upsertArtifact(trx, {
          tenant_id: dep.tenant_id,
          deployment_id: dep.id,
          name,
          kind,
          step,
          blob_name: blobName,
          content_type: contentType,
          bytes: length,
          created_at: at,
          updated_at: at,
        });
        await after(trx, at);
        return r;
      });
      if (previous && previous !== blobName) await blobs.delete(previous).catch(() => undefined);
      return row;
    } catch (e) {
      // No record names the new blob: drop it (best effort; the lifecycle rule removes a leftover).
      await blobs.delete(blobName).catch(() => undefined);
      throw e;
    }
  };

  /** Marks a step failed because its log could not be written, then rethrows. */
  const stepFailed = async (ctx: DeploymentCtx, dep: store.DeploymentRow, step: string, e: unknown): Promise<never> => {
    if (isUnavailableError(e)) {
      const at = now();
      await ctx
        .tx(DEPLOYMENTS_SQL, (trx) =>
          store.upsertStep(trx, { tenant_id: dep.tenant_id, deployment_id: dep.id, name: step, status: 'failed', message: 'The log could not be written to storage.', started_at: at, updated_at: at }),
        )
        .catch(() => undefined);
    }
    throw short(e);
  };

  const upsertStep = (trx: store.Tx, dep: store.DeploymentRow, step: string, status: store.StepStatus, at: Date) =>
    store.upsertStep(trx, { tenant_id: dep.tenant_id, deployment_id: dep.id, name: step, status, message: null, started_at: at, updated_at: at });

  /** What the two log routes share. */
  const LOG_ROUTE = {
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.StepParams,
    query: schemas.StepLogQuery,
    stream: STREAM,
    responses: {
      200: { description: 'The step and its log', schema: schemas.StepLogWritten },
      400: { description: 'The body is shorter or longer than its Content-Length (InvalidRequest)' },
    },
  } as const;

  const writeLog = route({
    summary: "Upload a step's whole log (streamed, replacing any earlier one; honours If-Match and If-None-Match); sets the step's status (default succeeded)",
    ...LOG_ROUTE,
    handler: async (ctx) => {
      const dep = await load(ctx);
      const { step } = ctx.params;
      const status = stepStatusAfter(ctx.query.status, false);
      let stepRow: store.StepRow | undefined;
      const artifact = await writeArtifact(ctx, dep, `${step}.log`, 'log', step, async (trx, at) => void (stepRow = await upsertStep(trx, dep, step, status, at))).catch((e: unknown) =>
        stepFailed(ctx, dep, step, e),
      );
      return { status: 200, body: { step: toStepDto(stepRow!), artifact: toArtifactDto(artifact) } };
    },
  });

  const appendLog = route({
    summary: "Append to a step's log (streamed; a reader never sees half an append); the step is running unless status says otherwise",
    ...LOG_ROUTE,
    handler: async (ctx) => {
      const dep = await load(ctx);
      const { step } = ctx.params;
      const name = `${step}.log`;
      const status = stepStatusAfter(ctx.query.status, true);
      const length = lengthOf(ctx);
      let stepRow: store.StepRow | undefined;
      // One transaction holds the artifact's lock while the blob grows: Put Block List drops every
      // block not in its list, so two appends staging on one blob at once would lose one of them.
      const artifact = await ctx
        .tx(DEPLOYMENTS_SQL, async (trx) => {
          await store.lockArtifact(trx, dep.tenant_id, dep.id, name);
          const existing = await store.getArtifact(trx, dep.tenant_id, dep.id, name);
          const at = now();
          const blobName = existing?.blob_name ?? newBlobName(dep.tenant_id, dep.id, name, at);
          const bytes = existing
            ? (await blobs.append(blobName, bodyOf(ctx), length)).bytes
            : (await blobs.write(blobName, bodyOf(ctx), length, mediaOf(ctx), { tenant: dep.tenant_id, deployment: dep.id })).bytes;
          try {
            stepRow = await upsertStep(trx, dep, step, status, at);
            return await store.upsertArtifact(trx, {
              tenant_id: dep.tenant_id,
              deployment_id: dep.id,
              name,
              kind: 'log',
              step,
              blob_name: blobName,
              content_type: existing?.content_type ?? mediaOf(ctx),
              bytes,
              created_at: existing?.created_at ?? at,
              updated_at: at,
            });
          } catch (e) {
            if (!existing) await blobs.delete(blobName).catch(() => undefined);
            throw e;
          }
        })
        .catch((e: unknown) => stepFailed(ctx, dep, step, e));
      return { status: 200, body: { step: toStepDto(stepRow!), artifact: toArtifactDto(artifact) } };
    },
  });

  const upload = route({
    summary: 'Upload an artifact of a deployment (a rendered manifest, a report …), streamed; replaces one of the same name (honours If-Match and If-None-Match)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.ArtifactParams,
    query: schemas.UploadArtifactQuery,
    stream: STREAM,
    responses: {
      200: { description: 'The artifact', schema: schemas.Artifact },
      400: { description: 'The body is shorter or longer than its Content-Length, or the name is that of a step log (InvalidRequest)' },
      412: { description: 'If-Match does not match the artifact, or If-None-Match: * and it exists' },
    },
    handler: async (ctx) => {
      const dep = await load(ctx);
      const { artifactName } = ctx.params;
      if (artifactName.endsWith('.log')) throw invalid("Names ending in '.log' are step logs: write them through …/steps/{step}/log.", 'artifactName');
      const row = await writeArtifact(ctx, dep, artifactName, ctx.query.kind ?? 'other', null, async () => undefined).catch((e: unknown) => {
        throw short(e);
      });
      return { status: 200, body: toArtifactDto(row), etag: artifactEtag(row)! };
    },
  });

  const listArtifacts = route({
    summary: "A deployment's artifacts and step logs, by name; keyset-paginated",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.DeploymentParams,
    paged: true,
    responses: { 200: { description: 'A page of artifacts', schema: schemas.ArtifactList } },
    handler: async (ctx) => {
      const dep = await load(ctx);
      const after = decodeCursor(ctx.query.skipToken, zod.object({ n: zod.string().max(100) }));
      const rows = await ctx.read(DEPLOYMENTS_SQL, (db) => store.selectArtifacts(db, dep.tenant_id, dep.id, after?.n, ctx.pageSize + 1));
      return { status: 200, body: ctx.page(rows, (r) => ({ n: r.name }), toArtifactDto) };
    },
  });

  type ArtifactCtx = RouteContext<z.output<typeof schemas.ArtifactParams>, unknown, unknown, unknown>;
  const loadArtifact = async (ctx: ArtifactCtx) => {
    const { deploymentId, artifactName } = ctx.params;
    const dep = await load(ctx);
    const [row] = await ctx.read(DEPLOYMENTS_SQL, (db) => store.selectArtifact(db, dep.tenant_id, deploymentId, artifactName));
    if (!row) throw notFound(`Artifact '${artifactName}'`, 'artifactName');
    return row;
  };

  const download = route({
    summary: 'Download an artifact or step log (streamed, whatever its access tier)',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ArtifactParams,
    responses: { 200: { description: 'The bytes, as uploaded', binary: ['application/octet-stream'] } },
    handler: async (ctx) => {
      const row = await loadArtifact(ctx);
      const { body, length } = await blobs.read(row.blob_name);
      return {
        status: 200,
        headers: { 'Content-Disposition': `attachment; filename="${row.name}"`, 'X-Content-Type-Options': 'nosniff' },
        stream: { body, contentType: 'application/octet-stream', length },
      };
    },
  });

  const link = route({
    summary: 'A short-lived, read-only download URL of an artifact (a user-delegation SAS in Azure)',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ArtifactParams,
    responses: { 200: { description: 'The URL and when it expires', schema: schemas.ArtifactLink } },
    handler: async (ctx) => {
      const row = await loadArtifact(ctx);
      const l = await blobs.link(row.blob_name, now());
      return { status: 200, body: { url: l.url, expiresOn: l.expiresOn.toISOString() } };
    },
  });

  return { create, list, get, transition: transitionRoute, rollback: rollbackRoute, rollbackTargets, writeLog, appendLog, upload, listArtifacts, download, link };
}
