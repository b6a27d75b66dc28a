/**
 * Stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker builds in.
 *
 * `@azure/functions` reaches the worker only through `require('@azure/functions-core')`. The real
 * worker answers that require by wrapping `Module.prototype.require`; this does the same, so the
 * app registers its functions, hooks and programming model with us exactly as it does in Azure, and
 * the host learns the functions from those registrations (never from a second list).
 */
import Module from 'node:module';
import type {
  BindingInfo,
  CoreFunctionMetadata,
  Disposable,
  FunctionCallback,
  HookCallback,
  ProgrammingModel,
  RpcLogCategory,
  RpcLogLevel,
} from './core-types.js';

/** A function as the host indexes it: the registration metadata plus the callback to invoke. */
export interface RegisteredFunction {
  readonly name: string;
  readonly functionId: string;
  /** Bindings keyed by binding name, exactly as registered. */
  readonly bindings: Readonly<Record<string, BindingInfo>>;
  /** The trigger binding (the one binding whose type ends in `Trigger`), with its name. */
  readonly trigger: Readonly<BindingInfo & { name: string }>;
  readonly retryOptions?: Readonly<Record<string, unknown>>;
  readonly callback: FunctionCallback;
}

export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';

/** Where worker-level log lines go (`coreApi.log` and user logs of invocations). */
export type CoreLogSink = (level: RpcLogLevel, category: RpcLogCategory, message: string, invocationId?: string) => void;

interface CoreState {
  functions: Map<string, RegisteredFunction>;
  hooks: Map<string, HookCallback[]>;
  programmingModel: ProgrammingModel | undefined;
  hasFinishedStartup: boolean;
  appHookData: Record<string, unknown>;
  appLevelOnlyHookData: Record<string, unknown>;
  logSink: CoreLogSink;
  installed: boolean;
}

/** Versions the stand-in reports; the library only checks that they exist. */
export const workerVersion = '3.12.0-local';
export const hostVersion = '4.1040.0-local';

const stateKey = Symbol.for('runtime-platform.local-host.functions-core');

function isTriggerType(type: string | undefined): boolean {
  return typeof type === 'string' && /trigger$/i.test(type);
}

class CoreDisposable implements Disposable {
  static from(...likes: { dispose: () => unknown }[]): CoreDisposable {
    return new CoreDisposable(() => likes.forEach((l) => l.dispose()));
  }
  #onDispose: (() => unknown) | undefined;
  constructor(onDispose: () => unknown) {
    this.#onDispose = onDispose;
  }
  dispose(): unknown {
    const fn = this.#onDispose;
    this.#onDispose = undefined;
    return fn?.();
  }
}

/** The process-wide stand-in state (one Functions app per process, as with the real worker). */
export function coreState(): CoreState {
  const holder = globalThis as unknown as Record<symbol, CoreState | undefined>;
  let state = holder[stateKey];
  if (!state) {
    state = {
      functions: new Map(),
      hooks: new Map(),
      programmingModel: undefined,
      hasFinishedStartup: false,
      appHookData: {},
      appLevelOnlyHookData: {},
      logSink: defaultSink,
      installed: false,
    };
    holder[stateKey] = state;
  }
  return state;
}

function defaultSink(level: RpcLogLevel, _category: RpcLogCategory, message: string): void {
  if (level === 'error' || level === 'critical') console.error(message);
  else if (level === 'warning') console.warn(message);
  else if (level !== 'trace' && level !== 'debug') console.log(message);
}

function registerFunction(metadata: CoreFunctionMetadata, callback: FunctionCallback): Disposable {
  const state = coreState();
  if (state.hasFinishedStartup) {
    throw new Error('A function can only be registered during app startup.');
  }
  const functionId = metadata.functionId ?? metadata.name;
  const entry = Object.entries(metadata.bindings).find(([, b]) => isTriggerType(b.type));
  if (!entry) throw new Error(`Function "${metadata.name}" has no trigger binding.`);
  if ([...state.functions.values()].some((f) => f.name.toLowerCase() === metadata.name.toLowerCase())) {
    // The host refuses duplicate function names at indexing; failing here says it earlier.
    throw new Error(`A function named "${metadata.name}" is already registered.`);
  }
  const [triggerName, trigger] = entry;
  state.functions.set(functionId, {
    name: metadata.name,
    functionId,
    bindings: metadata.bindings,
    trigger: { ...trigger, name: trigger.name ?? triggerName },
    retryOptions: metadata.retryOptions,
    callback,
  });
  return new CoreDisposable(() => {
    if (coreState().hasFinishedStartup) throw new Error('A function can only be disposed during app startup.');
    coreState().functions.delete(functionId);
  });
}

function registerHook(hookName: string, callback: HookCallback): Disposable {
  const hooks = coreState().hooks;
  const list = hooks.get(hookName) ?? [];
  list.push(callback);
  hooks.set(hookName, list);
  return new CoreDisposable(() => {
    const current = hooks.get(hookName) ?? [];
    hooks.set(
      hookName,
      current.filter((h) => h !== callback),
    );
  });
}

/** The object the app gets from `require('@azure/functions-core')`. */
const coreApi = {
  version: workerVersion,
  get hostVersion(): string {
    return hostVersion;
  },
  registerFunction,
  registerHook,
  setProgrammingModel(model: ProgrammingModel): void {
    coreState().programmingModel = model;
  },
  getProgrammingModel(): ProgrammingModel | undefined {
    return coreState().programmingModel;
  },
  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void {
    coreState().logSink(level, category, message);
  },
  Disposable: CoreDisposable,
};

/**
 * Makes `require('@azure/functions-core')` answer with the stand-in, in this process, from now
 * on. Must run before the app (and so `@azure/functions`) is first loaded. Idempotent.
 */
export function installFunctionsCore(): void {
  const state = coreState();
  if (state.installed) return;
  // Same interception the worker uses (setupCoreModule): every CJS `require` passes through
  // Module.prototype.require, including the one inside the bundled `@azure/functions`.
  // Only used as the Proxy target, never called detached.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = Module.prototype.require;
  Module.prototype.require = new Proxy(original, {
    apply(target, thisArg, args: unknown[]) {
      if (args[0] === '@azure/functions-core') return coreApi;
      return Reflect.apply(target, thisArg, args) as unknown;
    },
  });
  state.installed = true;
}

/** Runs the hooks registered under `hookName` in order, awaiting each (as the worker does). */
export async function executeHooks(hookName: HookName, context: Record<string, unknown>): Promise<void> {
  for (const hook of coreState().hooks.get(hookName) ?? []) {
    await hook(context);
  }
}

/** Runs the `log` hooks synchronously (the worker does not await them). */
export function executeLogHooks(context: Record<string, unknown>): void {
  for (const hook of coreState().hooks.get('log') ?? []) {
    try {
      void hook(context);
    } catch {
      // A throwing log hook must not break the invocation that logged.
    }
  }
}

/** A hook context whose shared objects cannot be replaced, as in the worker. */
export function readOnlyHookContext(
  hookData: Record<string, unknown>,
  props: Record<string, unknown>,
  readOnly: Record<string, unknown> = {},
): Record<string, unknown> {
  const context: Record<string, unknown> = { ...props };
  const define = (key: string, value: unknown) =>
    Object.defineProperty(context, key, {
      enumerable: true,
      get: () => value,
      set: () => {
        throw new TypeError(`Cannot assign to read only property '${key}'`);
      },
    });
  define('hookData', hookData);
  define('appHookData', coreState().appHookData);
  for (const [key, value] of Object.entries(readOnly)) define(key, value);
  return context;
}
