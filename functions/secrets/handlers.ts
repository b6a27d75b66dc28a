/** HTTP handlers of the secrets service: validate (schemas), call the service, shape the response. */
import type { InvocationContext } from '@azure/functions';
import { route, type RouteContext, type TenantAccess } from '../../shared/http/route.js';
import { invalid, notFound, UnavailableError } from '../../shared/errors.js';
import { createdRange, decodeKeyset, keysetOf } from '../../shared/http/keyset.js';
import { newId } from '../../shared/ids.js';
import { accepted, type OrchestrationPort } from '../../shared/orchestration.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { SecretsInstance, SecretsNeeds } from './api.js';
import type { ValueProviders } from './generator.js';
import { ROTATION, rotationInput } from './rotation.js';
import * as store from './store.js';
import * as schemas from './schemas.js';
import { checkCreate, createBinding, deleteBinding, initialVersion, patchBinding, resolveVault, toBindingDto } from './service.js';
import { SECRETS_SQL } from './sql.js';
import type { SecretVault } from './vault.js';

/** What the secrets handlers use. */
export interface SecretHandlerDeps {
  now: () => Date;
  /** This deployment's vault URL, if configured. */
  vaultUrl: string | undefined;
  vault: SecretVault;
  providers: Pick<ValueProviders, 'check' | 'generate'>;
  environments: SecretsNeeds['environments'];
  catalog: Pick<SecretsNeeds['catalog'], 'getService'>;
  /** The orchestration port of an invocation that has the durable client binding. */
  orchestrations: (invocation: InvocationContext) => Promise<OrchestrationPort>;
  referenceSource: SecretsInstance['referenceSource'];
}

const TAGS = ['secrets'];
const tenantOf = ({ tenant }: { tenant: TenantAccess }): TenantRef => ({ tenantId: tenant.tenantId, placement: tenant.placement });
const location = (tenantId: string, id: string) => `/api/tenants/${tenantId}/secret-bindings/${id}`;

/** A history row as the API shows it. */
export function toRotationDto(r: store.RotationRow): schemas.RotationDto {
  return {
    id: r.id,
    bindingId: r.binding_id,
    trigger: r.trigger,
    status: r.outcome === 'running' ? 'Running' : r.outcome === 'succeeded' ? 'Succeeded' : 'Failed',
    fromVersion: r.from_version,
    toVersion: r.to_version,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at?.toISOString() ?? null,
    ...(r.error_code ? { error: { code: r.error_code } } : {}),
  };
}

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function secretHandlers({ now, vaultUrl, vault, providers, environments, catalog, orchestrations, referenceSource }: SecretHandlerDeps) {
  /** Every consumer names a live environment of the tenant and, if given, a live service of it. */
  const checkConsumers = async (tenant: TenantRef, consumers: readonly schemas.ConsumerDto[] | undefined) => {
    for (const [i, c] of (consumers ?? []).entries()) {
      const env = await environments.getEnvironment(tenant, c.environmentId);
      if (!env || env.status !== 'active') throw invalid(`Environment '${c.environmentId}' does not exist or is retired.`, `consumers[${i}].environmentId`);
      if (c.serviceId === undefined) continue;
      const svc = await catalog.getService(tenant, c.serviceId);
      if (!svc || svc.environmentId !== c.environmentId || svc.status !== 'active') {
        throw invalid(`Service '${c.serviceId}' does not exist in environment '${c.environmentId}' or is retired.`, `consumers[${i}].serviceId`);
      }
    }
  };

  const create = route({
    summary: 'Create a secret binding: a reference to a Key Vault secret, never its value (counts against the tenant quota maxSecretBindings)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.TenantParams,
    body: { schema: schemas.CreateBinding, example: schemas.CREATE_EXAMPLE },
    idempotent: SECRETS_SQL,
    // Everything that can refuse the create is asked before the vault is touched; the vault is
    // asked (or written) outside any transaction, and the create re-checks under the tenant lock.
    prepare: async (ctx) => {
      const tenant = tenantOf(ctx);
      await checkConsumers(tenant, ctx.body.consumers);
      providers.check(ctx.body.rotation.generator);
      const keyVaultRef = resolveVault(ctx.body.keyVaultRef, vaultUrl);
      const maxSecretBindings = ctx.tenant.quotas.maxSecretBindings ?? 0;
      await ctx.tx(SECRETS_SQL, (trx) => checkCreate(trx, { tenantId: tenant.tenantId, maxSecretBindings, keyVaultRef }, ctx.body));
      const id = newId('sb');
      const currentVersion = await initialVersion(vault, providers, tenant.tenantId, id, ctx.body);
      return { id, keyVaultRef, currentVersion, maxSecretBindings };
    },
    responses: {
      201: { description: 'Created', schema: schemas.Binding },
      409: { description: 'Name or secret already bound (Conflict), quota reached (QuotaExceeded), or the vault has no such secret (VaultSecretMissing) / already has one (VaultSecretExists)' },
    },
    handler: async (ctx) => {
      const { tenantId } = ctx.tenant;
      const c = { tenantId, ...ctx.prepared };
      const { row, consumers } = await ctx.tx(SECRETS_SQL, (trx) => createBinding(trx, c, ctx.body, now()));
      return { status: 201, body: toBindingDto(row, consumers), etag: row.etag, headers: { Location: location(tenantId, row.id) } };
    },
  });

  const list = route({
    summary: "List the tenant's secret bindings: name prefix, consuming environment, creation-time range; keyset-paginated",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.TenantParams,
    query: schemas.ListBindingsQuery,
    paged: true,
    responses: { 200: { description: 'A page of bindings, by name (or by creation time when a range is given)', schema: schemas.BindingList } },
    handler: async (ctx) => {
      const q = ctx.query;
      const range = createdRange(q);
      const after = decodeKeyset(q.skipToken, range.order);
      const tenantId = ctx.tenant.tenantId;
      const rows = await ctx.read(SECRETS_SQL, (db) =>
        store.selectBindings(db, tenantId, {
          ...(q.namePrefix ? { namePrefix: q.namePrefix } : {}),
          ...(q.environmentId ? { environmentId: q.environmentId } : {}),
          range,
          ...(after ? { after } : {}),
          limit: ctx.pageSize + 1,
        }),
      );
      const consumers = rows.length > 0 ? await ctx.read(SECRETS_SQL, (db) => store.selectConsumers(db, tenantId, rows.map((r) => r.id))) : [];
      return { status: 200, body: ctx.page(rows, (r) => keysetOf(range.order, r), (r) => toBindingDto(r, consumers)) };
    },
  });

  const loadBinding = async (ctx: Pick<RouteContext<unknown, unknown, unknown, unknown>, 'tenant' | 'read'>, bindingId: string) => {
    const [row] = await ctx.read(SECRETS_SQL, (db) => store.selectBinding(db, ctx.tenant.tenantId, bindingId));
    if (!row) throw notFound(`Secret binding '${bindingId}'`, 'bindingId');
    return row;
  };

  const get = route({
    summary: 'Get a secret binding (references only, never the value)',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.BindingParams,
    responses: { 200: { description: 'The binding', schema: schemas.Binding } },
    handler: async (ctx) => {
      const row = await loadBinding(ctx, ctx.params.bindingId);
      const consumers = await ctx.read(SECRETS_SQL, (db) => store.selectConsumers(db, ctx.tenant.tenantId, [row.id]));
      return { status: 200, body: toBindingDto(row, consumers), etag: row.etag };
    },
  });

  const patch = route({
    summary: "Update a binding's consumers or rotation policy (JSON merge patch; honours If-Match)",
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.BindingParams,
    body: {
      schema: schemas.PatchBinding,
      example: { rotation: { intervalDays: 90, overlapHours: 48, generator: { kind: 'random', length: 48, alphabet: 'base64url' } } },
      contentType: 'application/merge-patch+json',
    },
    prepare: async (ctx) => {
      await checkConsumers(tenantOf(ctx), ctx.body.consumers);
      if (ctx.body.rotation) providers.check(ctx.body.rotation.generator);
    },
    responses: {
      200: { description: 'The updated binding', schema: schemas.Binding },
      412: { description: 'If-Match does not match the current ETag' },
    },
    handler: async (ctx) => {
      const { bindingId } = ctx.params;
      const { row, consumers } = await ctx.tx(SECRETS_SQL, (trx) => patchBinding(trx, ctx.tenant.tenantId, bindingId, ctx.body, ctx.ifMatch, now()));
      return { status: 200, body: toBindingDto(row, consumers), etag: row.etag };
    },
  });

  const remove = route({
    summary: 'Delete a secret binding (the reference; the secret stays in the vault; honours If-Match)',
    tags: TAGS,
    access: { tenantRole: 'admin' },
    params: schemas.BindingParams,
    responses: {
      204: { description: 'Deleted' },
      412: { description: 'If-Match does not match the current ETag' },
    },
    handler: async (ctx) => {
      const { bindingId } = ctx.params;
      await ctx.tx(SECRETS_SQL, (trx) => deleteBinding(trx, ctx.tenant.tenantId, bindingId, ctx.ifMatch, now()));
      return { status: 204 };
    },
  });

  const rotate = route({
    summary: 'Rotate the secret now: a new version in Key Vault becomes current (202; poll Operation-Location). A rotation already running is answered instead of starting another',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.BindingParams,
    responses: { 202: { description: 'Accepted; Operation-Location is the rotation', schema: schemas.Rotation } },
    handler: async (ctx) => {
      const tenant = tenantOf(ctx);
      const { bindingId } = ctx.params;
      const at = now();
      const input = rotationInput(tenant, bindingId, at, 'manual');
      const { row, fresh } = await ctx.tx(SECRETS_SQL, async (trx) => {
        const b = await store.getBinding(trx, tenant.tenantId, bindingId, { forUpdate: true });
        if (!b) throw notFound(`Secret binding '${bindingId}'`, 'bindingId');
        const running = await store.runningRotation(trx, tenant.tenantId, bindingId);
        if (running) return { row: running, fresh: false };
        const r = await store.upsertRotation(trx, {
          tenant_id: tenant.tenantId,
          id: input.rotationId,
          binding_id: bindingId,
          instance_id: input.instanceId,
          trigger: 'manual',
          from_version: b.current_version,
          to_version: null,
          started_at: at,
          finished_at: null,
          outcome: 'running',
          error_code: null,
        });
        return { row: r, fresh: true };
      });
      if (fresh) {
        try {
          await (await orchestrations(ctx.invocation)).start(ROTATION.orchestrator, input.instanceId, input);
        } catch (e) {
          // Nothing runs the rotation: say so in its history, and let the client retry.
          await ctx.tx(SECRETS_SQL, (trx) => store.updateRotation(trx, tenant.tenantId, row.id, { outcome: 'failed', finished_at: now(), error_code: 'StartFailed' }));
          ctx.invocation.error(`secrets: rotation ${input.instanceId} could not be started: ${e instanceof Error ? e.message : String(e)}`);
          throw new UnavailableError('The rotation could not be started now.', 10);
        }
      }
      const reply = accepted(`${location(tenant.tenantId, bindingId)}/rotations/${row.id}`, { id: row.id, status: 'NotStarted' });
      return { ...reply, body: toRotationDto(row) };
    },
  });

  const rotations = route({
    summary: "A binding's rotation history, newest first",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.BindingParams,
    paged: true,
    responses: { 200: { description: 'A page of rotations', schema: schemas.RotationList } },
    handler: async (ctx) => {
      const { bindingId } = ctx.params;
      const before = decodeKeyset(ctx.query.skipToken, 'created');
      const rows = await ctx.read(SECRETS_SQL, (db) =>
        store.selectRotations(db, ctx.tenant.tenantId, bindingId, before ? { startedAt: new Date(before.key), id: before.id } : undefined, ctx.pageSize + 1),
      );
      if (rows.length === 0) await loadBinding(ctx, bindingId);
      return { status: 200, body: ctx.page(rows, (r) => ({ o: 'created', k: r.started_at.toISOString(), i: r.id }), toRotationDto) };
    },
  });

  const rotation = route({
    summary: 'One rotation: the status resource a rotate request points at',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.RotationParams,
    responses: { 200: { description: 'The rotation', schema: schemas.Rotation } },
    handler: async (ctx) => {
      const { bindingId, rotationId } = ctx.params;
      const [row] = await ctx.read(SECRETS_SQL, (db) => store.selectRotation(db, ctx.tenant.tenantId, bindingId, rotationId));
      if (!row) throw notFound(`Rotation '${rotationId}'`, 'rotationId');
      return { status: 200, body: toRotationDto(row) };
    },
  });

  const blastRadius = route({
    summary: 'Blast radius of a binding: its consumers, the configuration versions that reference it, and who has not synced since the last rotation',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.BindingParams,
    responses: { 200: { description: 'The blast radius; the configuration part says when it is not available', schema: schemas.BlastRadius } },
    handler: async (ctx) => {
      const row = await loadBinding(ctx, ctx.params.bindingId);
      const consumers = await ctx.read(SECRETS_SQL, (db) => store.selectConsumers(db, ctx.tenant.tenantId, [row.id]));
      const source = referenceSource();
      let configuration: schemas.BlastRadiusDto['configuration'];
      if (!source) {
        configuration = { available: false, reason: 'The configuration service is not part of this deployment.' };
      } else {
        try {
          const refs = await source(tenantOf(ctx), row.name, row.last_rotated_at);
          const shown = (c: (typeof refs.consumers)[number]) => ({ consumer: c.consumer, environmentId: c.environmentId, serviceId: c.serviceId, syncedVersion: c.syncedVersion, syncedAt: c.syncedAt.toISOString() });
          configuration = {
            available: true,
            configurationVersions: refs.configurationVersions.map((v) => ({ environmentId: v.environmentId, serviceId: v.serviceId, version: v.version, latest: v.latest })),
            syncedAfterRotation: refs.consumers.filter((c) => c.syncedAfterRotation).map(shown),
            notSyncedAfterRotation: refs.consumers.filter((c) => !c.syncedAfterRotation).map(shown),
          };
        } catch (e) {
          ctx.invocation.warn(`secrets: blast radius of ${ctx.tenant.tenantId}/${row.id}: the configuration service failed: ${e instanceof Error ? e.message : String(e)}`);
          configuration = { available: false, reason: 'The configuration service did not answer.' };
        }
      }
      const body: schemas.BlastRadiusDto = {
        bindingId: row.id,
        name: row.name,
        currentVersion: row.current_version,
        lastRotatedAt: row.last_rotated_at?.toISOString() ?? null,
        declaredConsumers: toBindingDto(row, consumers).consumers,
        configuration,
        asOf: now().toISOString(),
      };
      return { status: 200, body };
    },
  });

  return { create, list, get, patch, remove, rotate, rotations, rotation, blastRadius };
}
