/**
 * The fact sheet: one tenant-scoped view of a service assembled from the services that own each
 * part. Parts are asked in parallel; a part with no provider is `missing`, a provider that throws or
 * answers in the wrong shape is `failed` (logged, its error text not shown), and neither stops the
 * others. Nothing is filled in by the catalog itself.
 */
import { toSummary } from './api.js';
import type { CatalogPlugs } from './plugs.js';
import { FACT_PARTS, type FactPart, type ServiceFactsDto } from './schemas.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { toServiceDto } from './service.js';
import type { ServiceRow } from './store.js';

/** Assembles the fact sheet of `row` from the registered providers. */
export async function assembleFacts(
  plugs: CatalogPlugs,
  tenant: TenantRef,
  row: ServiceRow,
  now: Date,
  log: (message: string) => void = () => undefined,
): Promise<ServiceFactsDto> {
  const summary = toSummary(row);
  const order = Object.keys(FACT_PARTS) as FactPart[];
  const parts: Record<string, unknown> = {};
  const available: FactPart[] = [];
  const missing: FactPart[] = [];
  const failed: { part: FactPart; message: string }[] = [];
  await Promise.all(
    order.map(async (part) => {
      const provider = plugs.factProvider(part);
      if (!provider) {
        missing.push(part);
        return;
      }
      let answer: unknown;
      try {
        answer = await provider.provide(tenant, summary);
      } catch (e) {
        log(`fact provider ${provider.owner}/${part} failed for ${tenant.tenantId}/${row.id}: ${e instanceof Error ? e.message : String(e)}`);
        failed.push({ part, message: `${provider.owner} did not answer.` });
        return;
      }
      if (answer === null) {
        parts[part] = null;
        available.push(part);
        return;
      }
      const parsed = FACT_PARTS[part].safeParse(answer);
      if (!parsed.success) {
        log(`fact provider ${provider.owner}/${part} answered in an unexpected shape for ${tenant.tenantId}/${row.id}`);
        failed.push({ part, message: `${provider.owner} answered in an unexpected shape.` });
        return;
      }
      parts[part] = parsed.data;
      available.push(part);
    }),
  );
  const byOrder = (a: FactPart, b: FactPart) => order.indexOf(a) - order.indexOf(b);
  return {
    service: toServiceDto(row),
    parts: parts,
    available: available.sort(byOrder),
    missing: missing.sort(byOrder),
    failed: failed.sort((a, b) => byOrder(a.part, b.part)),
    asOf: now.toISOString(),
  };
}
