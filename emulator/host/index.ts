/**
 * The local Functions host, a stand-in for Azure Functions Core Tools (`func start`):
 *
 * - {@link loadFunctionsApp} imports an app through the `@azure/functions-core` stand-in and
 *   returns the functions it registered (metadata + callbacks), in this process.
 * - {@link serveFunctionsApp} serves a loaded app over HTTP in this process.
 * - {@link startHost} does both in a child process (the way `npm start` runs it).
 *
 * docs/local-host.md says what is faithful to Azure and what is not.
 */
export { loadFunctionsApp, type FunctionsApp, type InvocationInput, type LoadFunctionsAppOptions } from './app.js';
export type { BindingInfo, RpcInvocationResponse, RpcTypedData } from './core-types.js';
export { clientInputData, type OrchestrationClientInputData } from './durable/client-binding.js';
export { LocalTaskHub, type Instance, type RuntimeStatus } from './durable/task-hub.js';
export type { RegisteredFunction } from './functions-core.js';
export { parseSchedule, type TimerSchedule } from './ncrontab.js';
export { parseRouteTemplate, type RouteTemplate } from './routes.js';
export { serveFunctionsApp, type FunctionsHost, type ServeOptions } from './server.js';
export { startHost, type FunctionSummary, type StartedHost, type StartHostOptions } from './start-host.js';
