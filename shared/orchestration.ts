/**
 * The orchestration port over Durable Functions: start an instance with a deterministic id (a
 * duplicate start is a no-op), read its status, and answer 202 with `Operation-Location`.
 * Functions that use it declare the durable client input: `extraInputs: [durableClientInput]` on
 * an HTTP route, `{ durableClient: true }` on a timer (see shared/registrar.ts).
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { Reply } from './http/route.js';

/** Status of an orchestration instance, as the API shows it. */
export interface OperationStatus {
  id: string;
  status: 'NotStarted' | 'Running' | 'Succeeded' | 'Failed' | 'Canceled';
  createdAt?: string;
  lastUpdatedAt?: string;
  result?: unknown;
  error?: { code: string; message: string };
}

/** Port used by services; the Durable adapter below implements it. */
export interface OrchestrationPort {
  /**
   * Starts `name` as `instanceId` unless an instance with that id already exists and has not
   * failed: a pending, running or completed instance makes the start a no-op (`started: false`),
   * so deterministic ids (`rotate:<tenant>:<binding>:<due-date>`) run once; a failed, terminated or
   * canceled one is started again (a retry).
   */
  start(name: string, instanceId: string, input: unknown): Promise<{ instanceId: string; started: boolean }>;
  status(instanceId: string): Promise<OperationStatus | null>;
}

/** Runtime statuses after which a start with the same id is a retry, not a duplicate. */
const RESTARTABLE = new Set(['Failed', 'Terminated', 'Canceled']);

/** The Durable Functions adapter, for one invocation that has the durable client binding. */
export function durableOrchestrations(context: InvocationContext): OrchestrationPort {
  const client = df.getClient(context);
  return {
    async start(name, instanceId, input) {
      const existing = await client.getStatus(instanceId).catch(() => undefined);
      if (existing?.name && !RESTARTABLE.has(String(existing.runtimeStatus))) return { instanceId, started: false };
      try {
        await client.startNew(name, { instanceId, input });
      } catch (e) {
        // Another instance of the app started the same id between our read and our start.
        if (/already exists/i.test(e instanceof Error ? e.message : String(e))) return { instanceId, started: false };
        throw e;
      }
      return { instanceId, started: true };
    },
    async status(instanceId) {
      const s = await client.getStatus(instanceId).catch(() => undefined);
      if (!s?.name) return null;
      return toOperationStatus(instanceId, String(s.runtimeStatus), s.createdTime, s.lastUpdatedTime, s.output);
    },
  };
}

/** Maps a Durable runtime status to the API's operation status. */
export function toOperationStatus(
  id: string,
  runtimeStatus: string,
  created: Date | string | undefined,
  updated: Date | string | undefined,
  output: unknown,
): OperationStatus {
  const status: OperationStatus['status'] =
    runtimeStatus === 'Completed'
      ? 'Succeeded'
      : runtimeStatus === 'Failed'
        ? 'Failed'
        : runtimeStatus === 'Terminated' || runtimeStatus === 'Canceled'
          ? 'Canceled'
          : runtimeStatus === 'Pending'
            ? 'NotStarted'
            : 'Running';
  return {
    id,
    status,
    ...(created ? { createdAt: new Date(created).toISOString() } : {}),
    ...(updated ? { lastUpdatedAt: new Date(updated).toISOString() } : {}),
    ...(status === 'Succeeded' ? { result: output } : {}),
    ...(status === 'Failed' ? { error: { code: 'OperationFailed', message: 'The operation failed.' } } : {}),
  };
}

/** `202 Accepted` pointing at the operation's status resource. */
export function accepted(statusUrl: string, op: OperationStatus | { id: string; status: 'NotStarted' }): Reply {
  return { status: 202, headers: { 'Operation-Location': statusUrl, 'Retry-After': '2' }, body: op };
}
