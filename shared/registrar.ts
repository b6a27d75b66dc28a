/**
 * How services register their functions. Registration happens at import, as the Functions host
 * requires, but carries only each function's metadata (name, trigger, route, methods, schedule,
 * queue): the kernel, the SQL layer, `durable-functions` and a service's handlers are loaded on a
 * function's first invocation. That keeps the app's cold import close to a one-function app's (see
 * docs/performance.md), and it is why this module imports nothing heavy.
 *
 * Each function's handler runs in a request span (`tracing.ts`): with Application Insights on, every
 * invocation is a request carrying its invocation id, function name and tenant.
 *
 * Every trigger kind works the same way: `http`, `timer`, `queue`, and the Durable Functions kinds
 * `orchestration`, `activity` and `entity`. The Durable ones register the same trigger metadata
 * `df.app.*` would (`orchestrationTrigger`, `activityTrigger`, `entityTrigger`) and build
 * durable-functions' own handler around the implementation on first use.
 */
import { app, input, trigger, type FunctionInput, type HttpRequest, type HttpResponseInit, type InvocationContext, type Timer } from '@azure/functions';
import type { ActivityHandler, EntityHandler, OrchestrationHandler } from 'durable-functions';
import type { Kernel } from './kernel.js';
import type { HttpRoutes } from './http/pipeline.js';
import type { HttpMethod, RouteImpl } from './http/route.js';
import { overlaps, parseTemplate, RouteTemplateError } from './http/route-template.js';
import type { ServiceInstance } from './service.js';

/** The composed app, as the registrar's loaders see it. */
export interface App {
  readonly kernel: Kernel;
  readonly routes: HttpRoutes;
  /** A service's instance, by descriptor name. */
  instance(service: string): ServiceInstance;
}

/** Loads one function's implementation, given the service's own instance and the kernel. */
export type Load<I, T> = (self: I, kernel: Kernel) => T | Promise<T>;

/** A timer's implementation. */
export type TimerImpl = (timer: Timer, context: InvocationContext) => Promise<void>;
/** A queue trigger's implementation (the message as the host decoded it). */
export type QueueImpl = (message: unknown, context: InvocationContext) => Promise<void>;

/** One registered function, as the host indexes it. */
export interface FunctionEntry {
  name: string;
  service: string;
  trigger: 'http' | 'timer' | 'queue' | 'orchestration' | 'activity' | 'entity';
  method?: HttpMethod;
  route?: string;
  schedule?: string;
  queueName?: string;
  /** What a non-HTTP function does, in a sentence (HTTP routes carry their summary in `route()`). */
  description?: string;
}

type Handler = (triggerInput: unknown, context: InvocationContext) => Promise<unknown>;

// The Durable Functions handler builders, loaded on first use. durable-functions builds the same
// wrappers in `df.app.orchestration` / `df.app.entity`; calling those would register the function
// again, so their builders are taken from the module that defines them.
interface DurableBuilders {
  createOrchestrator(fn: OrchestrationHandler): Handler;
  createEntityFunction(fn: EntityHandler<unknown>): Handler;
}
const durableBuilders = () => import('durable-functions/lib/src/util/testingUtils.js') as Promise<DurableBuilders>;
const durableActivity = async (fn: ActivityHandler): Promise<Handler> => (await import('durable-functions/lib/src/app.js')).wrapActivityHandler(fn) as Handler;

/** The input binding a function needs to start or query orchestrations (what `df.input.durableClient()` makes). */
export const durableClientInput: FunctionInput = input.generic({ type: 'durableClient' });

/** Registers functions with lazy implementations; one per app instance. */
export class Registrar {
  readonly entries: FunctionEntry[] = [];
  private readonly routeLoaders: (() => Promise<unknown>)[] = [];
  private app: Promise<App> | undefined;

  /** `boot` composes the app (kernel, services, routes) on the first invocation of any function. */
  constructor(private readonly boot: (registrar: Registrar) => Promise<App>) {}

  /** The composed app, built once; a failed boot is retried on the next call. */
  getApp(): Promise<App> {
    if (!this.app) {
      this.app = this.boot(this);
      this.app.catch(() => (this.app = undefined));
    }
    return this.app;
  }

  /** The registrations of one service: its loaders receive the service's own instance. */
  service<I extends ServiceInstance>(service: string): ServiceRegistrar<I> {
    return new ServiceRegistrar<I>(this, service);
  }

  /** Loads every HTTP route's implementation (the OpenAPI document and tests need them all). */
  async loadRoutes(): Promise<App> {
    await Promise.all(this.routeLoaders.map((l) => l()));
    return this.getApp();
  }

  /** @internal Registers a function whose handler is built by `build` on first use. */
  add(entry: FunctionEntry, build: (app: App) => Promise<Handler>, register: (handler: Handler) => void): void {
    if (this.entries.some((e) => e.name === entry.name)) throw new Error(`Two functions are named '${entry.name}'`);
    if (entry.trigger === 'http') this.checkRoute(entry);
    // Every invocation runs in a request span (shared/tracing.ts): loaded with the handler, so
    // registration stays metadata only.
    const resolve = once(async () => {
      const [handler, { traceInvocation }] = await Promise.all([this.getApp().then(build), import('./tracing.js')]);
      return traceInvocation(entry, handler);
    });
    if (entry.trigger === 'http') this.routeLoaders.push(resolve);
    register(async (t, c) => (await resolve())(t, c));
    this.entries.push(entry);
  }

  /**
   * Refuses a route the Functions host would refuse, or one that can match the same path as an
   * earlier route of the same method (the host takes the first match in function-name order, so
   * which one answers would depend on names; see http/route-template.ts).
   */
  private checkRoute(entry: FunctionEntry): void {
    const mine = parseTemplate(entry.route ?? '');
    for (const other of this.entries) {
      if (other.trigger !== 'http' || other.method !== entry.method) continue;
      if (overlaps(mine, parseTemplate(other.route ?? ''))) {
        throw new RouteTemplateError(
          `Functions '${other.name}' (${other.method} ${other.route}) and '${entry.name}' (${entry.method} ${entry.route}) can match the same path; the host would pick one by function name`,
        );
      }
    }
  }
}

/** One service's view of the registrar. */
export class ServiceRegistrar<I extends ServiceInstance> {
  constructor(
    private readonly registrar: Registrar,
    readonly service: string,
  ) {}

  private self = (a: App) => a.instance(this.service) as I;

  /** An HTTP function; `load` returns the route's declaration (see `route()`). */
  http(name: string, method: HttpMethod, route: string, load: Load<I, RouteImpl>, opts: { extraInputs?: FunctionInput[] } = {}): void {
    this.registrar.add(
      { name, service: this.service, trigger: 'http', method, route },
      async (a) => {
        const handle = a.routes.add(name, method, route, await load(this.self(a), a.kernel));
        return (request, context) => handle(request as HttpRequest, context);
      },
      (handler) =>
        app.http(name, {
          methods: [method],
          route,
          authLevel: 'anonymous',
          handler: handler as (r: HttpRequest, c: InvocationContext) => Promise<HttpResponseInit>,
          ...(opts.extraInputs ? { extraInputs: opts.extraInputs } : {}),
        }),
    );
  }

  /** A timer function on an NCRONTAB schedule (six fields, with seconds, UTC). */
  timer(name: string, schedule: string, description: string, load: Load<I, TimerImpl>, opts: { runOnStartup?: boolean; durableClient?: boolean } = {}): void {
    this.registrar.add(
      { name, service: this.service, trigger: 'timer', schedule, description },
      async (a) => {
        const impl = await load(this.self(a), a.kernel);
        return (t, c) => impl(t as Timer, c);
      },
      (handler) =>
        app.timer(name, {
          schedule,
          ...(opts.runOnStartup ? { runOnStartup: true } : {}),
          ...(opts.durableClient ? { extraInputs: [durableClientInput] } : {}),
          handler,
        }),
    );
  }

  /** A Storage queue trigger (`connection` names the app setting prefix of the queue's account). */
  queue(name: string, queueName: string, connection: string, description: string, load: Load<I, QueueImpl>): void {
    this.registrar.add(
      { name, service: this.service, trigger: 'queue', queueName, description },
      async (a) => {
        const impl = await load(this.self(a), a.kernel);
        return (m, c) => impl(m, c);
      },
      (handler) => app.storageQueue(name, { queueName, connection, handler }),
    );
  }

  /** A Durable Functions orchestrator: a deterministic generator (see docs/architecture.md). */
  orchestration(name: string, description: string, load: Load<I, OrchestrationHandler>): void {
    this.registrar.add(
      { name, service: this.service, trigger: 'orchestration', description },
      async (a) => {
        const [impl, df] = await Promise.all([load(this.self(a), a.kernel), durableBuilders()]);
        return df.createOrchestrator(impl);
      },
      (handler) => app.generic(name, { trigger: trigger.generic({ type: 'orchestrationTrigger' }), handler }),
    );
  }

  /** A Durable Functions activity: the side effects of an orchestration; must be safe to run twice. */
  activity(name: string, description: string, load: Load<I, ActivityHandler>): void {
    this.registrar.add(
      { name, service: this.service, trigger: 'activity', description },
      async (a) => durableActivity(await load(this.self(a), a.kernel)),
      (handler) => app.generic(name, { trigger: trigger.generic({ type: 'activityTrigger' }), handler }),
    );
  }

  /** A Durable Functions entity. */
  entity(name: string, description: string, load: Load<I, EntityHandler<unknown>>): void {
    this.registrar.add(
      { name, service: this.service, trigger: 'entity', description },
      async (a) => {
        const [impl, df] = await Promise.all([load(this.self(a), a.kernel), durableBuilders()]);
        return df.createEntityFunction(impl);
      },
      (handler) => app.generic(name, { trigger: trigger.generic({ type: 'entityTrigger' }), handler }),
    );
  }
}

/** Memoises a loader; a failed load is retried on the next call. */
function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    if (!p) {
      p = f();
      p.catch(() => (p = undefined));
    }
    return p;
  };
}
