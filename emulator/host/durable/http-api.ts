/**
 * The subset of the Durable Functions extension's HTTP API (HttpApiHandler) that durable-functions'
 * `DurableClient` uses, served from the local task hub:
 *
 *   POST   orchestrators/{functionName}[/{instanceId}]   start (202 + management links; 409 on a live duplicate id)
 *   GET    instances/{id}                                status (202 while running, 200 when finished, 404)
 *   DELETE instances/{id}                                purge (200, 404, 412 while running)
 *   POST   instances/{id}/raiseEvent/{eventName}         raise event (202, 404, 410)
 *   POST   instances/{id}/terminate                      (202, 404, 410)
 *   GET    instances/ , DELETE instances/?...            501 (listing and purging by filter are not emulated)
 *   POST   instances/{id}/suspend|resume|restart|rewind  501 (not emulated)
 *   *      entities/...                                   501 (entities are not emulated)
 *
 * Paths are relative to `/runtime/webhooks/durabletask`, which is both the webhook base and the
 * client's `rpcBaseUrl` locally.
 */
import { durableWebhookPath, managementPayload } from './client-binding.js';
import { eventTypeName, EventType, type HistoryEvent } from './history.js';
import { TaskHubError, type Instance, type LocalTaskHub, type RuntimeStatus } from './task-hub.js';

/** A request to the durable API, already read. */
export interface DurableApiRequest {
  method: string;
  /** Path below `/runtime/webhooks/durabletask`, still URL-encoded. */
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  body: Buffer;
  /** Origin of the request (`http://host:port`), used for the links in responses. */
  origin: string;
  /** The full request URL (for the Location header of a running instance's status). */
  url: string;
}

/** A response of the durable API. */
export interface DurableApiResponse {
  status: number;
  headers: Record<string, string>;
  body?: string;
}

const jsonType = 'application/json; charset=utf-8';

function json(status: number, value: unknown, headers: Record<string, string> = {}): DurableApiResponse {
  return { status, headers: { 'content-type': jsonType, ...headers }, body: JSON.stringify(value) };
}

function errorResponse(status: number, message: string): DurableApiResponse {
  return json(status, { Message: message });
}

/**
 * 501 for what the local task hub does not emulate: said plainly, never half done. The emulated part
 * is what this app's orchestrations need (start, status, activities with retries, timers,
 * sub-orchestrations, continue-as-new), plus raise event, terminate and purge of one instance, which
 * the host's tests drive through the real durable client.
 */
function notLocal(what: string): DurableApiResponse {
  return errorResponse(501, `${what} is not supported by the local Functions host (emulator/host/durable). Use Azure, or Core Tools with Azurite, for it.`);
}

function empty(status: number): DurableApiResponse {
  return { status, headers: {} };
}

function dotnetTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function parseBool(value: string | null): boolean | undefined {
  if (value === null) return undefined;
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  return undefined;
}

/** JSON value of a JSON text as the extension stores it (a non-JSON text stays a string). */
function jsonValue(text: string | null | undefined): unknown {
  if (text === null || text === undefined || text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function historyForStatus(instance: Instance, showOutput: boolean): unknown[] {
  const scheduled = new Map<number, HistoryEvent>();
  const out: unknown[] = [];
  for (const e of instance.history) {
    const type = eventTypeName(e.EventType);
    switch (e.EventType) {
      case EventType.TaskScheduled:
      case EventType.SubOrchestrationInstanceCreated:
        scheduled.set(e.EventId, e);
        break;
      case EventType.ExecutionStarted:
        out.push({ EventType: type, Timestamp: e.Timestamp, FunctionName: e.Name, ...(showOutput ? { Input: jsonValue(e.Input as string) } : {}) });
        break;
      case EventType.TaskCompleted:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceFailed: {
        const origin = scheduled.get(e.TaskScheduledId as number);
        const failed = e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed;
        out.push({
          EventType: type,
          FunctionName: origin?.Name,
          ScheduledTime: origin?.Timestamp,
          Timestamp: e.Timestamp,
          ...(failed ? { Reason: e.Reason, Details: e.Details } : showOutput ? { Result: jsonValue(e.Result as string) } : {}),
        });
        break;
      }
      case EventType.TimerCreated:
      case EventType.TimerFired:
        out.push({ EventType: type, FireAt: e.FireAt, Timestamp: e.Timestamp });
        break;
      case EventType.EventRaised:
        out.push({ EventType: type, Name: e.Name, Timestamp: e.Timestamp, ...(showOutput ? { Input: jsonValue(e.Input as string) } : {}) });
        break;
      case EventType.ExecutionCompleted:
        out.push({
          EventType: type,
          OrchestrationStatus: e.OrchestrationStatus,
          Timestamp: e.Timestamp,
          ...(showOutput ? { Result: jsonValue(e.Result as string) } : {}),
        });
        break;
      case EventType.ExecutionTerminated:
      case EventType.ExecutionSuspended:
      case EventType.ExecutionResumed:
        out.push({ EventType: type, Timestamp: e.Timestamp, Reason: e.Input ?? e.Reason ?? null });
        break;
      default:
        break;
    }
  }
  return out;
}

/** The status payload (StatusResponsePayload) of an instance. */
export function statusPayload(instance: Instance, options: { showInput?: boolean; showHistory?: boolean; showHistoryOutput?: boolean } = {}): Record<string, unknown> {
  return {
    name: instance.name,
    instanceId: instance.instanceId,
    runtimeStatus: instance.status,
    input: options.showInput === false ? null : jsonValue(instance.inputJson),
    customStatus: instance.customStatus ?? null,
    output: instance.output ?? null,
    createdTime: dotnetTime(instance.createdTime),
    lastUpdatedTime: dotnetTime(instance.lastUpdatedTime),
    ...(options.showHistory ? { historyEvents: historyForStatus(instance, options.showHistoryOutput === true) } : {}),
  };
}

function isRunning(status: RuntimeStatus): boolean {
  return status === 'Running' || status === 'Pending' || status === 'ContinuedAsNew' || status === 'Suspended';
}

/** Handles one request to the durable API. */
export async function handleDurableRequest(hub: LocalTaskHub, connectionName: string, request: DurableApiRequest): Promise<DurableApiResponse> {
  const segments = request.path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => decodeURIComponent(s));
  const [controller, first, second, third] = segments;
  const method = request.method.toUpperCase();
  const links = (instanceId: string) => managementPayload(`${request.origin}${durableWebhookPath}`, instanceId, hub.hubName, connectionName);

  const checkStatus = (instanceId: string): DurableApiResponse => {
    const payload = links(instanceId);
    return json(202, payload, { location: payload.statusQueryGetUri, 'retry-after': '10' });
  };

  const getStatus = (instance: Instance, returnInternalServerErrorOnFailure: boolean): DurableApiResponse => {
    const payload = statusPayload(instance, {
      showInput: parseBool(request.query.get('showInput')) ?? true,
      showHistory: parseBool(request.query.get('showHistory')) ?? false,
      showHistoryOutput: parseBool(request.query.get('showHistoryOutput')) ?? false,
    });
    if (isRunning(instance.status)) return json(202, payload, { location: request.url, 'retry-after': '5' });
    if (instance.status === 'Failed' && returnInternalServerErrorOnFailure) return json(500, payload);
    return json(200, payload);
  };

  const waitOrCheckStatus = async (instanceId: string): Promise<DurableApiResponse> => {
    const timeout = Number(request.query.get('timeout'));
    const interval = Number(request.query.get('pollingInterval'));
    if (!request.query.has('timeout') || !request.query.has('pollingInterval') || Number.isNaN(timeout) || Number.isNaN(interval)) {
      return checkStatus(instanceId);
    }
    const deadline = Date.now() + timeout * 1000;
    for (;;) {
      const instance = hub.get(instanceId);
      if (instance && !isRunning(instance.status)) {
        return instance.status === 'Completed' ? json(200, instance.output ?? null) : getStatus(instance, false);
      }
      if (Date.now() >= deadline) return checkStatus(instanceId);
      await new Promise((r) => setTimeout(r, Math.max(10, Math.min(interval * 1000, deadline - Date.now()))));
    }
  };

  try {
    if (controller === 'orchestrators' && first !== undefined && segments.length <= 3) {
      if (method !== 'POST') return empty(404);
      const text = request.body.toString('utf8');
      let inputJson: string | null = null;
      if (text.trim() !== '') {
        try {
          JSON.parse(text);
        } catch {
          return errorResponse(400, 'Invalid JSON content');
        }
        inputJson = text;
      }
      const instance = hub.startNew(first, second, inputJson);
      return await waitOrCheckStatus(instance.instanceId);
    }

    if (controller === 'instances' && third !== undefined && second?.toLowerCase() === 'raiseevent') {
      if (method !== 'POST') return empty(404);
      const instance = hub.get(first ?? '');
      if (!instance) return empty(404);
      if (!isRunning(instance.status)) return empty(410);
      if (!/^application\/json/i.test(request.contentType ?? '')) {
        return errorResponse(400, 'Only application/json request content is supported');
      }
      const text = request.body.toString('utf8');
      if (text.trim() !== '') {
        try {
          JSON.parse(text);
        } catch {
          return errorResponse(400, 'Invalid JSON content');
        }
      }
      hub.raiseEvent(instance.instanceId, third, text.trim() === '' ? null : text);
      return empty(202);
    }

    if (controller === 'instances' && segments.length <= 3) {
      if (first === undefined) {
        // Querying and purging many instances: the app does not use them and they are not validated
        // against the real client here, so they are refused rather than half emulated.
        if (method === 'GET' || method === 'DELETE') return notLocal(method === 'GET' ? 'Listing and querying instances' : 'Purging instances by filter');
        return empty(404);
      }
      const operation = second?.toLowerCase();
      if (operation === undefined) {
        if (method === 'GET') {
          const instance = hub.get(first);
          if (!instance) return empty(404);
          return getStatus(instance, parseBool(request.query.get('returnInternalServerErrorOnFailure')) ?? false);
        }
        if (method === 'DELETE') {
          if (!hub.get(first)) return empty(404);
          return json(200, { instancesDeleted: hub.purge(first) });
        }
        return empty(404);
      }
      if (method !== 'POST') return empty(404);
      const reason = request.query.get('reason');
      switch (operation) {
        case 'terminate':
          hub.terminate(first, reason);
          return empty(202);
        case 'suspend':
        case 'resume':
        case 'restart':
          return notLocal(`The ${operation} operation`);
        case 'rewind':
          return notLocal('Rewind');
        default:
          return empty(404);
      }
    }

    if (controller === 'entities') return notLocal('Durable entities');
    return empty(404);
  } catch (error) {
    if (error instanceof TaskHubError) {
      return error.status === 404 || error.status === 410 ? empty(error.status) : errorResponse(error.status, error.message);
    }
    return errorResponse(500, `Something went wrong while processing your request: ${(error as Error).message}`);
  }
}
