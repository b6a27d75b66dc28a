/**
 * What a service is to the app: a descriptor, exported by its `index.ts` and listed once in
 * `composition/services.ts`. From that one list the composition derives everything else: the
 * functions the host indexes (`register`), the migrator's list (`sql` + `migrations`, loaded only
 * by the migrate command), the error table the pipeline maps (`errors`), the quotas the tenants
 * service keeps (`quotas`), and the runtime wiring — each service's instance is built by `create`
 * from the kernel and the public APIs of the services it `needs`, in list order.
 *
 * A descriptor is light: `index.ts` is imported at start-up, so it imports types only, and loads
 * its SQL handle, migrations, API and handlers with dynamic `import()` when they are first needed
 * (anything imported both at start-up and later would land in a chunk of its own, one more file
 * to load at every cold start).
 */
import type { Migration } from 'kysely';
import type { Kernel } from './kernel.js';
import type { ErrorTable } from './errors.js';
import type { ServiceRegistrar } from './registrar.js';
import type { ServiceSql } from './sql/service-db.js';
import type { RouteImpl } from './http/route.js';

/** A quota a service enforces: its default and the largest value a platform admin may set. */
export interface QuotaDeclaration {
  default: number;
  max: number;
  description: string;
}

/** What the composition gives the platform service: the app-wide lists it works over. */
export interface AppPorts {
  /** Every service that owns a schema (the outbox publisher and housekeeping loop over them). */
  readonly databaseServices: readonly ServiceSql[];
  /** Every quota the services declare (the tenants service keeps them). */
  readonly quotas: Readonly<Record<string, QuotaDeclaration>>;
  /** Loads every route's implementation (the OpenAPI document describes them all). */
  loadAllRoutes(): Promise<void>;
}

/** Everything `create` gets. */
export interface CreateContext<Needs> {
  kernel: Kernel;
  /** The public APIs of the services named in `needs`. */
  deps: Needs;
  app: AppPorts;
}

/** A service's instance: its public API (what other services get) and whatever its own handlers use. */
export interface ServiceInstance<Api = unknown> {
  api: Api;
}

/** A service, as the composition list holds it. */
export interface ServiceDescriptor<Name extends string = string, Instance extends ServiceInstance = ServiceInstance, Needs = unknown> {
  name: Name;
  /** Its schema and role, when it keeps data in PostgreSQL (loaded when the app is composed). */
  sql?: () => Promise<ServiceSql>;
  /** Its migrations (loaded only by the migrate command and the tests' database set-up). */
  migrations?: () => Promise<Record<string, Migration>>;
  /** Its error codes and their HTTP status. */
  errors?: ErrorTable;
  /** The tenant quotas it enforces. */
  quotas?: Readonly<Record<string, QuotaDeclaration>>;
  /** Services whose public APIs `create` receives; each must come earlier in the list. */
  needs: readonly (keyof Needs & string)[];
  /** Builds the service's instance once per app instance, on the first invocation. */
  create(ctx: CreateContext<Needs>): Promise<Instance>;
  /** Registers its functions (metadata only; implementations load on first use). */
  register(r: ServiceRegistrar<Instance>): void;
}

/** Declares a service; the identity function that lets TypeScript check and infer the descriptor. */
export function defineService<Name extends string, Instance extends ServiceInstance, Needs = Record<never, never>>(
  d: ServiceDescriptor<Name, Instance, Needs>,
): ServiceDescriptor<Name, Instance, Needs> {
  return d;
}

/**
 * A service's route implementations, built once per service instance on first use: `load` imports
 * the handlers module and builds its handlers with the ports they need; `routes('create')` is the
 * loader `r.http(…)` takes for one of them.
 */
export function lazyRoutes<I extends object, H extends Record<string, RouteImpl>>(load: (self: I, kernel: Kernel) => Promise<H>) {
  const built = new WeakMap<I, Promise<H>>();
  return (key: keyof H & string) =>
    async (self: I, kernel: Kernel): Promise<RouteImpl> => {
      let p = built.get(self);
      if (!p) {
        p = load(self, kernel);
        built.set(self, p);
        p.catch(() => built.delete(self));
      }
      return (await p)[key]!;
    };
}
