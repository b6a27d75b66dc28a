/** HTTP handlers of the secrets service: validate (schemas), call the service, shape the response. */
import { route, type TenantAccess } from '../../shared/http/route.js';
import { invalid, notFound } from '../../shared/errors.js';
import { createdRange, decodeKeyset, keysetOf } from '../../shared/http/keyset.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { SecretsNeeds } from './api.js';
import * as store from './store.js';
import * as schemas from './schemas.js';
import { createBinding, deleteBinding, patchBinding, resolveVault, toBindingDto } from './service.js';
import { SECRETS_SQL } from './sql.js';

/** What the secrets handlers use. */
export interface SecretHandlerDeps {
  now: () => Date;
  /** This deployment's vault URL, if configured. */
  vaultUrl: string | undefined;
  environments: SecretsNeeds['environments'];
  catalog: Pick<SecretsNeeds['catalog'], 'getService'>;
}

const TAGS = ['secrets'];
const tenantOf = ({ tenant }: { tenant: TenantAccess }): TenantRef => ({ tenantId: tenant.tenantId, placement: tenant.placement });
const location = (tenantId: string, id: string) => `/api/tenants/${tenantId}/secret-bindings/${id}`;

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function secretHandlers({ now, vaultUrl, environments, catalog }: SecretHandlerDeps) {
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
    prepare: async (ctx) => {
      await checkConsumers(tenantOf(ctx), ctx.body.consumers);
      return { keyVaultRef: resolveVault(ctx.body.keyVaultRef, vaultUrl) };
    },
    responses: {
      201: { description: 'Created', schema: schemas.Binding },
      409: { description: 'Name or secret already bound (Conflict), or quota reached (QuotaExceeded)' },
    },
    handler: async (ctx) => {
      const { tenantId, quotas } = ctx.tenant;
      const c = { tenantId, maxSecretBindings: quotas.maxSecretBindings ?? 0, keyVaultRef: ctx.prepared.keyVaultRef, currentVersion: null };
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

  const get = route({
    summary: 'Get a secret binding (references only, never the value)',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.BindingParams,
    responses: { 200: { description: 'The binding', schema: schemas.Binding } },
    handler: async (ctx) => {
      const { bindingId } = ctx.params;
      const [row] = await ctx.read(SECRETS_SQL, (db) => store.selectBinding(db, ctx.tenant.tenantId, bindingId));
      if (!row) throw notFound(`Secret binding '${bindingId}'`, 'bindingId');
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
    prepare: async (ctx) => checkConsumers(tenantOf(ctx), ctx.body.consumers),
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

  return { create, list, get, patch, remove };
}
