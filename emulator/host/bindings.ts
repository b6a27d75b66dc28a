/**
 * The bindings the local host provides besides a function's trigger: the durable client input
 * binding (`durableClient` / `orchestrationClient`), whose data points at this host as the Durable
 * extension's would point at the real one, and the HTTP output (`$return` or a named `http`
 * output). No other input or output binding is provided; the host warns about each one at start.
 */
import type { RpcInvocationResponse, RpcParameterBinding, RpcTypedData } from './core-types.js';
import { clientInputData } from './durable/client-binding.js';
import type { RegisteredFunction } from './functions-core.js';

/** Data of the non-trigger input bindings the host provides for a function. */
export type InputBindings = (fn: RegisteredFunction) => RpcParameterBinding[];

/** Options of {@link inputBindings}. */
export interface InputBindingsOptions {
  /** Origin of the webhook URLs in the binding data (`WEBSITE_HOSTNAME`, else localhost and the port). */
  publicOrigin: () => string;
  /** Origin the durable client talks to (`rpcBaseUrl`). */
  rpcOrigin: () => string;
  /** The task hub's name, for bindings that do not name their own. */
  taskHubName: string;
  /** host.json `durableTask.storageProvider` connection name. */
  connectionName: string;
}

const isDurableClient = (type: string): boolean => type === 'durableclient' || type === 'orchestrationclient';

/** Logs a warning, once per binding, for every binding the local host does not provide. */
export function warnUnsupportedBindings(functions: readonly RegisteredFunction[], log: (line: string) => void): void {
  const warned = new Set<string>();
  for (const fn of functions) {
    for (const [bindingName, binding] of Object.entries(fn.bindings)) {
      const type = binding.type.toLowerCase();
      const known = binding === fn.bindings[fn.trigger.name] || type === 'http' || (isDurableClient(type) && binding.direction === 'in');
      if (!known && !warned.has(`${fn.name}/${bindingName}`)) {
        warned.add(`${fn.name}/${bindingName}`);
        log(`Warning: ${fn.name}: the local host does not provide '${binding.type}' ${binding.direction} bindings (binding '${bindingName}' is ignored).`);
      }
    }
  }
}

/** The data of the input bindings the host provides (the durable client), per function. */
export function inputBindings(options: InputBindingsOptions): InputBindings {
  return (fn) => {
    const out: RpcParameterBinding[] = [];
    for (const [name, binding] of Object.entries(fn.bindings)) {
      const type = binding.type.toLowerCase();
      if (binding.direction !== 'in' || name === fn.trigger.name) continue;
      if (isDurableClient(type)) {
        const data = clientInputData({
          publicOrigin: options.publicOrigin(),
          rpcOrigin: options.rpcOrigin(),
          taskHubName: typeof binding.taskHub === 'string' && binding.taskHub ? binding.taskHub : options.taskHubName,
          connectionName: options.connectionName,
        });
        out.push({ name, data: { string: JSON.stringify(data) } });
      }
    }
    return out;
  };
}

/** The HTTP response of an invocation: the `$return` http binding, else a named http output. */
export function httpOutput(fn: RegisteredFunction, response: RpcInvocationResponse): RpcTypedData | null | undefined {
  const ret = fn.bindings.$return;
  if (ret?.type.toLowerCase() === 'http') return response.returnValue;
  const named = response.outputData?.find((o) => o.name && fn.bindings[o.name]?.type.toLowerCase() === 'http');
  return named?.data;
}
