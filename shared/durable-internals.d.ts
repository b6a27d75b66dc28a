/**
 * The module of durable-functions that builds the handlers `df.app.orchestration` and
 * `df.app.entity` register (it ships no declarations). The registrar uses it to build the same
 * handlers lazily, without registering the function a second time. Pinned with durable-functions.
 */
declare module 'durable-functions/lib/src/util/testingUtils.js' {
  import type { InvocationContext } from '@azure/functions';
  import type { EntityHandler, OrchestrationHandler } from 'durable-functions';
  export function createOrchestrator(fn: OrchestrationHandler): (input: unknown, context: InvocationContext) => Promise<unknown>;
  export function createEntityFunction(fn: EntityHandler<unknown>): (input: unknown, context: InvocationContext) => Promise<unknown>;
}

/** durable-functions' wrapper around activity handlers (failure details), as `df.app.activity` applies it. */
declare module 'durable-functions/lib/src/app.js' {
  import type { ActivityHandler } from 'durable-functions';
  export function wrapActivityHandler(fn: ActivityHandler): ActivityHandler;
}
