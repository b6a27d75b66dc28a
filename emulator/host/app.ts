/**
 * Loading a Functions app through the `@azure/functions-core` stand-in, and invoking its functions
 * the way the Node.js worker does (InvocationHandler): programming model → invocation model →
 * getArguments → preInvocation hooks → invokeFunction → postInvocation hooks → getResponse.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  CoreInvocationContext,
  RpcInvocationRequest,
  RpcInvocationResponse,
  RpcLogCategory,
  RpcLogLevel,
} from './core-types.js';
import {
  coreState,
  executeHooks,
  executeLogHooks,
  installFunctionsCore,
  readOnlyHookContext,
  type CoreLogSink,
  type RegisteredFunction,
} from './functions-core.js';

export type { RegisteredFunction } from './functions-core.js';

/** Capabilities the Node.js worker announces to the host before the programming model adds its own. */
const workerCapabilities: Readonly<Record<string, string>> = {
  RawHttpBodyBytes: 'true',
  RpcHttpTriggerMetadataRemoved: 'true',
  RpcHttpBodyOnly: 'true',
  IgnoreEmptyValuedRpcHttpHeaders: 'true',
  UseNullableValueDictionaryForHttp: 'true',
  WorkerStatus: 'true',
  TypedDataCollection: 'true',
  HandlesWorkerTerminateMessage: 'true',
};

/** What an invocation carries in: trigger and input data, as the host would send them. */
export type InvocationInput = Omit<RpcInvocationRequest, 'functionId'>;

/** A loaded Functions app: its registered functions and a way to invoke them. */
export interface FunctionsApp {
  /** Absolute path of the entry module that was imported. */
  readonly entry: string;
  readonly functionAppDirectory: string;
  /** Every function the app registered, in registration order. */
  readonly functions: readonly RegisteredFunction[];
  /** Capabilities after the programming model added its own (e.g. `HttpUri` for HTTP streaming). */
  readonly capabilities: Readonly<Record<string, string>>;
  /** Where the library's HTTP proxy listens when the app enabled HTTP streaming, else undefined. */
  readonly httpProxyUri: string | undefined;
  /** The function with this name (case-insensitive, like the host), if registered. */
  getFunction(name: string): RegisteredFunction | undefined;
  /**
   * Invokes a function through the app's programming model. Resolves with the invocation response
   * (return value and output bindings as RPC data); rejects with the error the function threw.
   */
  invoke(fn: RegisteredFunction, request: InvocationInput): Promise<RpcInvocationResponse>;
  /** Runs the app's `appTerminate` hooks. */
  terminate(): Promise<void>;
  /** Routes worker and user log lines (default: the console). */
  setLogSink(sink: CoreLogSink): void;
}

/** Options for {@link loadFunctionsApp}. */
export interface LoadFunctionsAppOptions {
  /** Directory of host.json; passed to `appStart` hooks. Default: the current directory. */
  functionAppDirectory?: string;
  /** Where worker and user logs go during load and later invocations. */
  logSink?: CoreLogSink;
}

const appKey = Symbol.for('runtime-platform.local-host.app');

/**
 * Installs the `@azure/functions-core` stand-in, imports the entry module (e.g. `dist/main.js`) and
 * collects every function it registers — exactly the metadata Azure would index. Runs `appStart`
 * hooks. One app per process: a second call with the same entry returns the same app.
 */
export async function loadFunctionsApp(entryPath: string, options: LoadFunctionsAppOptions = {}): Promise<FunctionsApp> {
  const entry = path.resolve(entryPath);
  const holder = globalThis as unknown as Record<symbol, Promise<FunctionsApp> | undefined>;
  const loaded = holder[appKey];
  if (loaded) {
    const app = await loaded;
    if (app.entry !== entry) {
      throw new Error(`This process already serves ${app.entry}; load ${entry} in another process (startHost).`);
    }
    return app;
  }
  const promise = load(entry, options);
  holder[appKey] = promise;
  try {
    return await promise;
  } catch (error) {
    holder[appKey] = undefined;
    throw error;
  }
}

async function load(entry: string, options: LoadFunctionsAppOptions): Promise<FunctionsApp> {
  if (!existsSync(entry)) throw new Error(`Entry point ${entry} does not exist (run \`npm run build\` first?)`);
  const functionAppDirectory = path.resolve(options.functionAppDirectory ?? process.cwd());
  installFunctionsCore();
  const state = coreState();
  if (options.logSink) state.logSink = options.logSink;

  await import(pathToFileURL(entry).href);

  // Worker order: load the entry, run appStart hooks, then ask the model for its capabilities
  // (which locks `app.setup` and starts the HTTP-stream proxy), then report the functions.
  await executeHooks('appStart', readOnlyHookContext(state.appLevelOnlyHookData, {}, { functionAppDirectory }));
  let capabilities: Record<string, string> = { ...workerCapabilities };
  const model = state.programmingModel;
  if (model?.getCapabilities) capabilities = await model.getCapabilities(capabilities);
  state.hasFinishedStartup = true;

  const functions = [...state.functions.values()];
  return {
    entry,
    functionAppDirectory,
    functions,
    capabilities,
    httpProxyUri: capabilities.HttpUri,
    getFunction: (name) => functions.find((f) => f.name.toLowerCase() === name.toLowerCase()),
    invoke: (fn, request) => invoke(fn, request),
    terminate: () => executeHooks('appTerminate', readOnlyHookContext(state.appLevelOnlyHookData, {})),
    setLogSink: (sink) => {
      state.logSink = sink;
    },
  };
}

async function invoke(fn: RegisteredFunction, input: InvocationInput): Promise<RpcInvocationResponse> {
  const state = coreState();
  const model = state.programmingModel;
  if (!model) throw new Error('The app set no programming model (does it import @azure/functions?)');
  const invocationId = input.invocationId ?? randomUUID();
  const request: RpcInvocationRequest = { ...input, invocationId, functionId: fn.functionId };

  // Filled once the programming model has built the InvocationContext (log hooks receive it).
  const current: { invocationContext?: unknown } = {};
  const coreCtx: CoreInvocationContext = {
    invocationId,
    request,
    metadata: {
      name: fn.name,
      functionId: fn.functionId,
      bindings: { ...fn.bindings },
      rawBindings: Object.entries(fn.bindings).map(([name, b]) => JSON.stringify({ ...b, name })),
      scriptFile: 'n/a',
      retryOptions: fn.retryOptions ? { ...fn.retryOptions } : undefined,
    },
    state: undefined,
    log(level: RpcLogLevel, category: RpcLogCategory, message: string) {
      if (category === 'user') {
        const logContext = readOnlyHookContext({}, { level, message }, { category, invocationContext: current.invocationContext });
        executeLogHooks(logContext);
        state.logSink(logContext.level as RpcLogLevel, category, String(logContext.message), invocationId);
      } else {
        state.logSink(level, category, message, invocationId);
      }
    },
  };

  const invocationModel = await model.getInvocationModel(coreCtx);
  const hookData: Record<string, unknown> = {};
  const args = await invocationModel.getArguments();
  const context = args.context;
  current.invocationContext = context;

  const preContext = readOnlyHookContext(hookData, { functionCallback: fn.callback, inputs: args.inputs }, { invocationContext: context });
  coreCtx.state = 'preInvocationHooks';
  try {
    await executeHooks('preInvocation', preContext);
  } finally {
    coreCtx.state = undefined;
  }
  const inputs = preContext.inputs as unknown[];
  const callback = preContext.functionCallback as RegisteredFunction['callback'];

  const postContext = readOnlyHookContext(hookData, { inputs, result: null, error: null }, { invocationContext: context });
  coreCtx.state = 'invocation';
  try {
    postContext.result = await invocationModel.invokeFunction(context, inputs, callback);
  } catch (error) {
    postContext.error = error;
  } finally {
    coreCtx.state = undefined;
  }

  coreCtx.state = 'postInvocationHooks';
  try {
    await executeHooks('postInvocation', postContext);
  } finally {
    coreCtx.state = undefined;
  }
  // Rethrow whatever the function threw, as the worker does; the host reports it as the failure.
  // eslint-disable-next-line @typescript-eslint/only-throw-error
  if (postContext.error !== null && postContext.error !== undefined) throw postContext.error;
  return invocationModel.getResponse(context, postContext.result);
}
