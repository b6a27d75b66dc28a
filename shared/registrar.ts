/**
 * How services register their functions. Registration happens at import, as the Functions host
 * requires, but carries only each function's metadata (name, trigger, route, methods, schedule):
 * the kernel, the SQL layer and a service's handlers are loaded on a function's first invocation.
 * That keeps the app's cold import close to a one-function app's (see docs/performance.md), and it
 * is why this module imports nothing heavy.
 */
import { app, type FunctionInput, type HttpRequest, type HttpResponseInit, type InvocationContext, type Timer } from '@azure/functions';
import type { Kernel } from './kernel.js';
import type { RouteImpl } from './http/pipeline.js';

/** Loads one function's implementation, given the kernel. */
export type Load<T> = (kernel: Kernel) => Promise<T>;

/** A timer's implementation. */
export type TimerImpl = (timer: Timer, context: InvocationContext) => Promise<void>;

/** One registered function, as the host indexes it. */
export interface FunctionEntry {
  name: string;
  trigger: 'http' | 'timer';
  method?: string;
  route?: string;
  schedule?: string;
}

type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** Registers functions with lazy implementations; one per app instance. */
export class Registrar {
  readonly entries: FunctionEntry[] = [];
  private readonly loaders: (() => Promise<unknown>)[] = [];
  private kernel: Promise<Kernel> | undefined;

  /** `boot` builds the kernel (and wires services) on the first invocation of any function. */
  constructor(private readonly boot: () => Promise<Kernel>) {}

  /** The kernel, built once; a failed boot is retried on the next call. */
  getKernel(): Promise<Kernel> {
    if (!this.kernel) {
      this.kernel = this.boot().then((k) => {
        k.loadAllRoutes = () => this.loadAll().then(() => undefined);
        return k;
      });
      this.kernel.catch(() => (this.kernel = undefined));
    }
    return this.kernel;
  }

  /** An HTTP function; `load` returns everything but its name, method and route. */
  http(name: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', route: string, load: Load<RouteImpl>, opts: { extraInputs?: FunctionInput[] } = {}): void {
    const resolve = this.once(async () => {
      const k = await this.getKernel();
      return k.routes.add({ name, method, route, ...(await load(k)) });
    });
    app.http(name, {
      methods: [method],
      route,
      authLevel: 'anonymous',
      handler: async (request, context) => (await resolve())(request, context),
      ...(opts.extraInputs ? { extraInputs: opts.extraInputs } : {}),
    });
    this.entries.push({ name, trigger: 'http', method, route });
  }

  /** A timer function on an NCRONTAB schedule (six fields, with seconds). */
  timer(name: string, schedule: string, load: Load<TimerImpl>, opts: { runOnStartup?: boolean } = {}): void {
    const resolve = this.once(async () => load(await this.getKernel()));
    app.timer(name, {
      schedule,
      ...(opts.runOnStartup ? { runOnStartup: true } : {}),
      handler: async (timer, context) => (await resolve())(timer, context),
    });
    this.entries.push({ name, trigger: 'timer', schedule });
  }

  /** Loads every function's implementation (the OpenAPI document and tests need them all). */
  async loadAll(): Promise<Kernel> {
    await Promise.all(this.loaders.map((l) => l()));
    return this.getKernel();
  }

  private once<T>(f: () => Promise<T>): () => Promise<T> {
    let p: Promise<T> | undefined;
    const get = () => {
      if (!p) {
        p = f();
        p.catch(() => (p = undefined));
      }
      return p;
    };
    this.loaders.push(get);
    return get;
  }
}

export type { HttpHandler };
