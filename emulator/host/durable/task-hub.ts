/**
 * An in-memory Durable Task hub that plays the Durable Functions extension's part for the local
 * host. Orchestrators run through durable-functions' own replay engine: each episode invokes the
 * registered orchestrator function (through the app's programming model, like any trigger) with
 * the instance history, reads back the actions it returns, and turns new actions into history
 * (TaskScheduled → activity run → TaskCompleted/TaskFailed, TimerCreated → TimerFired,
 * SubOrchestrationInstanceCreated → ...Completed/Failed, EventRaised, ContinueAsNew).
 *
 * Event ids follow the SDK's own numbering (one per scheduled activity, timer or sub-orchestration
 * in action order, plus one per retry timer and retry attempt), and new events are delivered one
 * per episode so that numbering can never diverge. State lives in memory only: instances vanish
 * when the host stops.
 */
import { randomUUID } from 'node:crypto';
import type { InvocationInput } from '../app.js';
import type { RpcInvocationResponse, RpcTypedData } from '../core-types.js';
import type { RegisteredFunction } from '../functions-core.js';
import { historyEvent, EventType, type FailureDetailsPayload, type HistoryEvent } from './history.js';

/** Runtime status names, as the Durable HTTP API reports them. */
export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Canceled' | 'Terminated' | 'Suspended';

const terminalStatuses: ReadonlySet<RuntimeStatus> = new Set(['Completed', 'Failed', 'Canceled', 'Terminated']);
/** `overridableExistingInstanceStates: NonRunningStates` (the extension's default) dedupes these. */
const nonRunningDedupe: ReadonlySet<RuntimeStatus> = new Set(['Running', 'ContinuedAsNew', 'Pending', 'Suspended']);

/** SDK action types (durable-functions `ActionType`). */
const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;
const actionTypeNames = Object.fromEntries(Object.entries(ActionType).map(([k, v]) => [v, k])) as Record<number, string>;

interface RetryOptionsJson {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
}

interface ActionJson {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  version?: string;
  retryOptions?: RetryOptionsJson;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: ActionJson[];
}

interface OrchestratorStateJson {
  isDone?: boolean;
  actions?: ActionJson[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

interface RetryState {
  kind: 'activity' | 'subOrchestration';
  action: ActionJson;
  failures: number;
  /** Event id of the attempt now running, or of the retry timer being waited on. */
  pendingId: number;
  waitingOnTimer: boolean;
}

interface ParentLink {
  instanceId: string;
  executionId: string;
  taskScheduledId: number;
}

/** One orchestration instance. */
export interface Instance {
  instanceId: string;
  name: string;
  executionId: string;
  status: RuntimeStatus;
  /** Orchestration input as JSON text (null when started without input). */
  inputJson: string | null;
  /** Output as a JSON value (null while running). */
  output: unknown;
  customStatus: unknown;
  createdTime: Date;
  lastUpdatedTime: Date;
  history: HistoryEvent[];
  inbox: HistoryEvent[];
  knownActions: number;
  /** Event id given to each known action (index = action index), -1 for actions without one. */
  actionEventIds: number[];
  nextEventId: number;
  retries: Map<number, RetryState>;
  timers: Map<number, NodeJS.Timeout>;
  running: boolean;
  parent: ParentLink | undefined;
}

/** What a task hub needs from the host. */
export interface TaskHubHost {
  /** Looks up a registered (and enabled) function by name. */
  getFunction(name: string): RegisteredFunction | undefined;
  /** Every registered (and enabled) function. */
  listFunctions(): readonly RegisteredFunction[];
  /** Invokes a function the way the host does (logging it); rejects with what the function threw. */
  run(fn: RegisteredFunction, request: InvocationInput, reason: string): Promise<RpcInvocationResponse>;
  /** Reports a host-side problem (an orchestration the hub could not drive). */
  log(message: string): void;
}

/** Options of a {@link LocalTaskHub}. */
export interface TaskHubOptions {
  hubName: string;
  /** host.json `extensions.durableTask.overridableExistingInstanceStates`. */
  overridableExistingInstanceStates?: 'NonRunningStates' | 'AnyState';
}

/** Thrown by hub operations with the HTTP status the extension answers for it. */
export class TaskHubError extends Error {
  override name = 'TaskHubError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const maxTimeoutMs = 2 ** 31 - 1;
const outOfProcDataLabel = '\n\n$OutOfProcData$:';

function isActive(status: RuntimeStatus): boolean {
  return !terminalStatuses.has(status);
}

/** JSON text of an RPC return value, as the extension would serialize it into a history event. */
export function typedDataToJson(data: RpcTypedData | null | undefined): string {
  if (!data) return 'null';
  if (data.string !== undefined && data.string !== null) return JSON.stringify(data.string);
  if (data.json !== undefined && data.json !== null) return data.json;
  if (data.bytes) return JSON.stringify(Buffer.from(data.bytes).toString('base64'));
  if (data.stream) return JSON.stringify(Buffer.from(data.stream).toString('base64'));
  if (typeof data.int === 'number') return String(data.int);
  if (typeof data.double === 'number') return String(data.double);
  if (data.collectionString?.string) return JSON.stringify(data.collectionString.string);
  if (data.collectionDouble?.double) return JSON.stringify(data.collectionDouble.double);
  if (data.collectionSint64?.sint64) return JSON.stringify(data.collectionSint64.sint64);
  return 'null';
}

/** JSON text of an action input: activity and continue-as-new inputs arrive pre-stringified when strings. */
function preSerializedInput(input: unknown): string {
  if (input === undefined) return 'null';
  return typeof input === 'string' ? input : JSON.stringify(input);
}

function parseJson(text: string | null): unknown {
  if (text === null || text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function flattenActions(groups: ActionJson[][] | undefined): ActionJson[] {
  const out: ActionJson[] = [];
  const visit = (action: ActionJson) => {
    if (action.actionType === ActionType.WhenAll || action.actionType === ActionType.WhenAny) {
      for (const child of action.compoundActions ?? []) visit(child);
    } else out.push(action);
  };
  for (const group of groups ?? []) for (const action of group) visit(action);
  return out;
}

function errorText(error: unknown): { message: string; stack: string | undefined } {
  if (error instanceof Error) return { message: error.message, stack: error.stack };
  return { message: typeof error === 'string' ? error : JSON.stringify(error), stack: undefined };
}

/**
 * Failure details when an activity's error message is the JSON the SDK writes for errors with
 * custom properties (`df.app.setExceptionPropertiesProvider`).
 */
function failureDetailsFrom(message: string): FailureDetailsPayload | undefined {
  try {
    const parsed = JSON.parse(message) as Record<string, unknown>;
    if (typeof parsed.errorType === 'string' && typeof parsed.errorMessage === 'string') {
      return {
        ErrorType: parsed.errorType,
        ErrorMessage: parsed.errorMessage,
        StackTrace: typeof parsed.stackTrace === 'string' ? parsed.stackTrace : undefined,
        IsNonRetriable: parsed.isNonRetriable === true,
        Properties: (parsed.properties as Record<string, unknown> | undefined) ?? undefined,
      };
    }
  } catch {
    // An ordinary error message.
  }
  return undefined;
}

/**
 * Refuses a task hub name Azure Storage cannot hold, as the extension does at start-up:
 * AzureStorageOptions.ValidateHubName checks the name as a table name (a letter, then letters and
 * digits), a blob, container and queue name, and at most 50 characters, and fails with "Task hub name
 * '<name>' should contain only alphanumeric characters, start with a letter, and have length between
 * 3 and 45." (Azure/azure-functions-durable-extension,
 * src/WebJobs.Extensions.DurableTask/Options/AzureStorageOptions.cs). The message says 45, the check
 * allows 50; we check what the code checks.
 */
export function validateTaskHubName(hubName: string): void {
  if (!/^[A-Za-z][A-Za-z0-9]{2,49}$/.test(hubName)) {
    throw new Error(
      `Task hub name '${hubName}' should contain only alphanumeric characters, start with a letter, and have length between 3 and 45.`,
    );
  }
}

/** The in-memory task hub. */
export class LocalTaskHub {
  readonly hubName: string;
  readonly #host: TaskHubHost;
  readonly #dedupe: ReadonlySet<RuntimeStatus>;
  readonly #instances = new Map<string, Instance>();
  #stopped = false;

  constructor(host: TaskHubHost, options: TaskHubOptions) {
    this.#host = host;
    this.hubName = options.hubName;
    this.#dedupe = options.overridableExistingInstanceStates === 'AnyState' ? new Set() : nonRunningDedupe;
  }

  /** The instance with this id, if any. */
  get(instanceId: string): Instance | undefined {
    return this.#instances.get(instanceId);
  }

  /**
   * Schedules a new orchestration instance (the extension's StartNew). With the default
   * `NonRunningStates`, an id whose instance is Pending/Running/Suspended is refused with 409; an id
   * whose instance finished is started afresh.
   *
   * 409, not 500: the extension's HttpApiHandler.HandleStartOrchestratorRequestAsync catches
   * OrchestrationAlreadyExistsException and answers `CreateErrorResponse(HttpStatusCode.Conflict,
   * e.Message)`, the message being DurableTask's "An Orchestration instance with the status
   * Running already exists." (Azure/azure-functions-durable-extension,
   * src/WebJobs.Extensions.DurableTask/HttpApiHandler.cs). Older 2.x releases had no such catch and
   * answered 500 "Something went wrong while processing your request" carrying the same message;
   * callers should match on the message, as shared/orchestration.ts does.
   */
  startNew(name: string, instanceId: string | undefined, inputJson: string | null, parent?: ParentLink): Instance {
    if (this.#stopped) throw new TaskHubError(503, 'The task hub is stopped.');
    const fn = this.#host.getFunction(name);
    if (!fn || fn.trigger.type.toLowerCase() !== 'orchestrationtrigger') {
      throw new TaskHubError(
        400,
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function. Additional info: The following are the active orchestrator functions: '${this.#orchestratorNames()}'.`,
      );
    }
    const id = instanceId === undefined || instanceId === '' ? randomUUID().replace(/-/g, '') : instanceId;
    validateInstanceId(id);
    const existing = this.#instances.get(id);
    if (existing) {
      if (this.#dedupe.has(existing.status)) {
        throw new TaskHubError(409, `An Orchestration instance with the status ${existing.status} already exists.`);
      }
      this.#clearTimers(existing);
    }
    const now = new Date();
    const executionId = randomUUID().replace(/-/g, '');
    const instance: Instance = {
      instanceId: id,
      name: fn.name,
      executionId,
      status: 'Pending',
      inputJson,
      output: null,
      customStatus: null,
      createdTime: now,
      lastUpdatedTime: now,
      history: [],
      inbox: [this.#executionStarted(fn.name, id, executionId, inputJson, parent, now)],
      knownActions: 0,
      actionEventIds: [],
      nextEventId: 0,
      retries: new Map(),
      timers: new Map(),
      running: false,
      parent,
    };
    this.#instances.set(id, instance);
    setImmediate(() => void this.#drive(instance));
    return instance;
  }

  /** Queues an external event (EventRaised). 404 when unknown, 410 when finished. */
  raiseEvent(instanceId: string, eventName: string, inputJson: string | null): void {
    const instance = this.#require(instanceId);
    if (!isActive(instance.status)) throw new TaskHubError(410, `Instance ${instanceId} is ${instance.status}.`);
    this.#enqueue(instance, historyEvent('EventRaised', new Date(), { Name: eventName, Input: inputJson }));
  }

  /** Terminates a running instance. 404 when unknown, 410 when finished. */
  terminate(instanceId: string, reason: string | null): void {
    const instance = this.#require(instanceId);
    if (!isActive(instance.status)) throw new TaskHubError(410, `Instance ${instanceId} is ${instance.status}.`);
    const now = new Date();
    instance.history.push(historyEvent('ExecutionTerminated', now, { Input: reason }));
    this.#finish(instance, 'Terminated', reason, now);
    this.#notifyParent(instance, false, reason ?? 'Terminated', '');
  }

  /** Deletes a finished instance. 404 when unknown, 412 when still running. */
  purge(instanceId: string): number {
    const instance = this.#require(instanceId);
    if (isActive(instance.status)) {
      throw new TaskHubError(
        412,
        `Only orchestrations in a terminal state can be purged, but the orchestration with instance ID ${instanceId} has status ${instance.status}`,
      );
    }
    this.#clearTimers(instance);
    this.#instances.delete(instanceId);
    return 1;
  }

  /** Stops every timer; later operations are refused. */
  stop(): void {
    this.#stopped = true;
    for (const instance of this.#instances.values()) this.#clearTimers(instance);
  }

  /** Resolves once no instance has work queued or an episode running (for tests and shutdown). */
  async idle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.#instances.values()].some((i) => i.running || (i.inbox.length > 0 && isActive(i.status)))) {
      if (Date.now() > deadline) throw new Error('Task hub did not become idle in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  #orchestratorNames(): string {
    return this.#host
      .listFunctions()
      .filter((f) => f.trigger.type.toLowerCase() === 'orchestrationtrigger')
      .map((f) => f.name)
      .join(', ');
  }

  #require(instanceId: string): Instance {
    const instance = this.#instances.get(instanceId);
    if (!instance) throw new TaskHubError(404, `No instance with ID '${instanceId}' found.`);
    return instance;
  }

  #executionStarted(
    name: string,
    instanceId: string,
    executionId: string,
    inputJson: string | null,
    parent: ParentLink | undefined,
    at: Date,
  ): HistoryEvent {
    return historyEvent('ExecutionStarted', at, {
      OrchestrationInstance: { InstanceId: instanceId, ExecutionId: executionId },
      ParentInstance: parent
        ? {
            Name: null,
            Version: '',
            TaskScheduleId: parent.taskScheduledId,
            OrchestrationInstance: { InstanceId: parent.instanceId, ExecutionId: parent.executionId },
          }
        : null,
      Name: name,
      Version: '',
      Input: inputJson,
      Tags: null,
    });
  }

  #enqueue(instance: Instance, event: HistoryEvent): void {
    instance.inbox.push(event);
    void this.#drive(instance);
  }

  /** Runs episodes, one new event each, while the instance has events and may run. */
  async #drive(instance: Instance): Promise<void> {
    if (instance.running) return;
    instance.running = true;
    try {
      while (
        !this.#stopped &&
        this.#instances.get(instance.instanceId) === instance &&
        isActive(instance.status) &&
        instance.status !== 'Suspended'
      ) {
        const event = instance.inbox.shift();
        if (!event) break;
        await this.#episode(instance, event);
      }
    } catch (error) {
      this.#host.log(`Orchestration '${instance.name}' (${instance.instanceId}) could not be driven: ${errorText(error).message}`);
      if (isActive(instance.status)) this.#fail(instance, errorText(error).message, new Date());
    } finally {
      instance.running = false;
    }
  }

  async #episode(instance: Instance, event: HistoryEvent): Promise<void> {
    const fn = this.#host.getFunction(instance.name);
    if (!fn) throw new Error(`Orchestrator '${instance.name}' is no longer registered`);
    const last = instance.history[instance.history.length - 1];
    const lastAt = last ? Date.parse(last.Timestamp) : 0;
    const fireAt = typeof event.FireAt === 'string' ? Date.parse(event.FireAt) : 0;
    const now = new Date(Math.max(Date.now(), lastAt, fireAt));
    const started = historyEvent('OrchestratorStarted', now);
    const outputs: HistoryEvent[] = [];
    const deferred: (() => void)[] = [];

    if (event.EventType === EventType.ExecutionStarted) instance.status = 'Running';
    this.#prepareRetry(instance, event, now, outputs, deferred);

    const past = instance.history.map((e) => ({ ...e, IsPlayed: true }));
    const payload = {
      history: [...past, started, event],
      input: parseJson(instance.inputJson),
      instanceId: instance.instanceId,
      isReplaying: false,
      parentInstanceId: instance.parent?.instanceId ?? null,
      upperSchemaVersion: 1,
      upperSchemaVersionNew: 2,
      longRunningTimerIntervalDuration: '3.00:00:00',
      maximumShortTimerDuration: '6.00:00:00',
      defaultHttpAsyncRequestSleepTimeMillseconds: 30_000,
    };
    const executionId = instance.executionId;
    let state: OrchestratorStateJson;
    let failure: string | undefined;
    try {
      const response = await this.#host.run(
        fn,
        {
          inputData: [{ name: fn.trigger.name, data: { string: JSON.stringify(payload) } }],
          triggerMetadata: { instanceId: { string: instance.instanceId } },
        },
        `OrchestratorStarted for instance ${instance.instanceId}`,
      );
      state = (JSON.parse(typedDataToJson(response.returnValue)) as OrchestratorStateJson | null) ?? {};
    } catch (error) {
      // The SDK appends its state to the error message; like the extension, report the state's
      // `error` (the user's exception message) rather than the text before the marker.
      const { message } = errorText(error);
      const at = message.indexOf(outOfProcDataLabel);
      state = at >= 0 ? ((parseJson(message.slice(at + outOfProcDataLabel.length)) as OrchestratorStateJson | null) ?? {}) : {};
      failure = typeof state.error === 'string' ? state.error : at >= 0 ? message.slice(0, at) : message;
    }
    // Terminated, purged or restarted while the episode ran: its results belong to nobody.
    if (instance.executionId !== executionId || !isActive(instance.status) || this.#instances.get(instance.instanceId) !== instance) {
      return;
    }
    instance.history.push(started, event);
    if (state.customStatus !== undefined) instance.customStatus = state.customStatus;
    instance.lastUpdatedTime = now;

    if (failure !== undefined) {
      instance.history.push(...outputs);
      this.#fail(instance, `Orchestrator function '${instance.name}' failed: ${failure}`, now);
      return;
    }

    const actions = flattenActions(state.actions);
    this.#applyCancellations(instance, actions);
    const fresh = actions.slice(instance.knownActions);
    let continueAsNew: ActionJson | undefined;
    for (const action of fresh) {
      const id = this.#schedule(instance, action, now, outputs, deferred);
      instance.actionEventIds.push(id);
      if (action.actionType === ActionType.ContinueAsNew) continueAsNew = action;
      if (id === -2) {
        instance.history.push(...outputs);
        this.#fail(
          instance,
          `Orchestrator function '${instance.name}' failed: ${actionTypeNames[action.actionType] ?? action.actionType} is not supported by the local Functions host.`,
          now,
        );
        return;
      }
    }
    instance.knownActions = actions.length;
    instance.history.push(...outputs, historyEvent('OrchestratorCompleted', now));

    if (continueAsNew) {
      this.#continueAsNew(instance, preSerializedInput(continueAsNew.input), now);
      return;
    }
    if (state.isDone) {
      instance.history.push(historyEvent('ExecutionCompleted', now, { OrchestrationStatus: 'Completed', Result: JSON.stringify(state.output ?? null) }));
      this.#finish(instance, 'Completed', state.output ?? null, now);
      this.#notifyParent(instance, true, JSON.stringify(state.output ?? null), '');
      return;
    }
    for (const run of deferred) run();
  }

  /** Retry bookkeeping that must happen as the SDK sees the event (it numbers retry timers then). */
  #prepareRetry(instance: Instance, event: HistoryEvent, now: Date, outputs: HistoryEvent[], deferred: (() => void)[]): void {
    const failed = event.EventType === EventType.TaskFailed || event.EventType === EventType.SubOrchestrationInstanceFailed;
    if (failed) {
      const retry = instance.retries.get(event.TaskScheduledId as number);
      if (!retry || retry.waitingOnTimer) return;
      instance.retries.delete(retry.pendingId);
      retry.failures += 1;
      const options = retry.action.retryOptions ?? { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: 1 };
      const delay = Math.min(
        options.firstRetryIntervalInMilliseconds * (options.backoffCoefficient ?? 1) ** (retry.failures - 1),
        options.maxRetryIntervalInMilliseconds ?? Infinity,
      );
      const timerId = instance.nextEventId++;
      const fireAt = new Date(now.getTime() + delay);
      retry.pendingId = timerId;
      retry.waitingOnTimer = true;
      instance.retries.set(timerId, retry);
      outputs.push(historyEvent('TimerCreated', now, { FireAt: fireAt.toISOString() }, timerId));
      deferred.push(() => this.#startTimer(instance, timerId, fireAt));
      return;
    }
    if (event.EventType === EventType.TimerFired) {
      const retry = instance.retries.get(event.TimerId as number);
      if (!retry) return;
      instance.retries.delete(retry.pendingId);
      const maxAttempts = retry.action.retryOptions?.maxNumberOfAttempts ?? 1;
      if (retry.failures >= maxAttempts) return;
      const attemptId = instance.nextEventId++;
      retry.pendingId = attemptId;
      retry.waitingOnTimer = false;
      instance.retries.set(attemptId, retry);
      if (retry.kind === 'activity') this.#scheduleActivity(instance, retry.action, attemptId, now, outputs, deferred);
      else this.#scheduleSubOrchestration(instance, retry.action, attemptId, now, outputs, deferred);
    }
  }

  /** Turns one new action into history; returns its event id (-1 none, -2 unsupported). */
  #schedule(instance: Instance, action: ActionJson, now: Date, outputs: HistoryEvent[], deferred: (() => void)[]): number {
    switch (action.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry: {
        const id = instance.nextEventId++;
        if (action.actionType === ActionType.CallActivityWithRetry) {
          instance.retries.set(id, { kind: 'activity', action, failures: 0, pendingId: id, waitingOnTimer: false });
        }
        this.#scheduleActivity(instance, action, id, now, outputs, deferred);
        return id;
      }
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const id = instance.nextEventId++;
        if (action.actionType === ActionType.CallSubOrchestratorWithRetry) {
          instance.retries.set(id, { kind: 'subOrchestration', action, failures: 0, pendingId: id, waitingOnTimer: false });
        }
        this.#scheduleSubOrchestration(instance, action, id, now, outputs, deferred);
        return id;
      }
      case ActionType.CreateTimer: {
        const id = instance.nextEventId++;
        const fireAt = new Date(action.fireAt ?? now.toISOString());
        outputs.push(historyEvent('TimerCreated', now, { FireAt: fireAt.toISOString() }, id));
        if (!action.isCanceled) deferred.push(() => this.#startTimer(instance, id, fireAt));
        return id;
      }
      case ActionType.WaitForExternalEvent:
      case ActionType.ContinueAsNew:
        return -1;
      default:
        return -2;
    }
  }

  #scheduleActivity(instance: Instance, action: ActionJson, id: number, now: Date, outputs: HistoryEvent[], deferred: (() => void)[]): void {
    const name = action.functionName ?? '';
    const inputJson = action.input === undefined ? undefined : preSerializedInput(action.input);
    outputs.push(historyEvent('TaskScheduled', now, { Name: name, Version: '', Input: inputJson ?? null }, id));
    const executionId = instance.executionId;
    deferred.push(() => void this.#runActivity(instance, executionId, name, inputJson, id));
  }

  async #runActivity(instance: Instance, executionId: string, name: string, inputJson: string | undefined, id: number): Promise<void> {
    const fn = this.#host.getFunction(name);
    let completion: HistoryEvent;
    if (!fn || fn.trigger.type.toLowerCase() !== 'activitytrigger') {
      const message = `The function '${name}' doesn't exist, is disabled, or is not an activity function.`;
      completion = historyEvent('TaskFailed', new Date(), {
        TaskScheduledId: id,
        Reason: message,
        Details: JSON.stringify({ Message: message }),
      });
    } else {
      try {
        const response = await this.#host.run(
          fn,
          {
            inputData: [{ name: fn.trigger.name, data: inputJson === undefined ? undefined : { string: inputJson } }],
            triggerMetadata: { instanceId: { string: instance.instanceId } },
          },
          `TaskEventId ${id} of instance ${instance.instanceId}`,
        );
        completion = historyEvent('TaskCompleted', new Date(), { TaskScheduledId: id, Result: typedDataToJson(response.returnValue) });
      } catch (error) {
        const { message, stack } = errorText(error);
        const failureDetails = failureDetailsFrom(message);
        completion = historyEvent('TaskFailed', new Date(), {
          TaskScheduledId: id,
          Reason: `Activity function '${name}' failed: ${failureDetails?.ErrorMessage ?? message}`,
          Details: JSON.stringify({ Message: failureDetails?.ErrorMessage ?? message, StackTrace: stack ?? null }),
          ...(failureDetails ? { FailureDetails: failureDetails } : {}),
        });
      }
    }
    if (instance.executionId === executionId && isActive(instance.status)) this.#enqueue(instance, completion);
  }

  #scheduleSubOrchestration(
    instance: Instance,
    action: ActionJson,
    id: number,
    now: Date,
    outputs: HistoryEvent[],
    deferred: (() => void)[],
  ): void {
    const name = action.functionName ?? '';
    // The extension's default sub-orchestration id: "<parent instance id>:<task id>".
    const childId = action.instanceId || `${instance.instanceId}:${id}`;
    const inputJson = action.input === undefined ? null : JSON.stringify(action.input);
    outputs.push(historyEvent('SubOrchestrationInstanceCreated', now, { Name: name, Version: action.version ?? '', InstanceId: childId, Input: inputJson }, id));
    const parent: ParentLink = { instanceId: instance.instanceId, executionId: instance.executionId, taskScheduledId: id };
    deferred.push(() => {
      try {
        this.startNew(name, childId, inputJson, parent);
      } catch (error) {
        const { message } = errorText(error);
        this.#enqueue(instance, historyEvent('SubOrchestrationInstanceFailed', new Date(), { TaskScheduledId: id, Reason: message, Details: '' }));
      }
    });
  }

  #startTimer(instance: Instance, id: number, fireAt: Date): void {
    if (this.#stopped) return;
    const executionId = instance.executionId;
    const arm = () => {
      const remaining = fireAt.getTime() - Date.now();
      const handle = setTimeout(
        () => {
          if (fireAt.getTime() > Date.now()) return arm();
          instance.timers.delete(id);
          if (instance.executionId === executionId && isActive(instance.status)) {
            this.#enqueue(instance, historyEvent('TimerFired', new Date(), { TimerId: id, FireAt: fireAt.toISOString() }));
          }
        },
        Math.max(0, Math.min(remaining, maxTimeoutMs)),
      );
      instance.timers.set(id, handle);
    };
    arm();
  }

  /** A timer whose task was cancelled (`timer.cancel()`) stops; the SDK no longer waits on it. */
  #applyCancellations(instance: Instance, actions: ActionJson[]): void {
    for (let i = 0; i < Math.min(actions.length, instance.knownActions); i++) {
      const action = actions[i];
      const id = instance.actionEventIds[i];
      if (action?.actionType === ActionType.CreateTimer && action.isCanceled && id !== undefined) {
        const handle = instance.timers.get(id);
        if (handle) clearTimeout(handle);
        instance.timers.delete(id);
      }
    }
  }

  #continueAsNew(instance: Instance, inputJson: string, now: Date): void {
    this.#clearTimers(instance);
    instance.status = 'ContinuedAsNew';
    instance.executionId = randomUUID().replace(/-/g, '');
    instance.inputJson = inputJson;
    instance.history = [];
    instance.knownActions = 0;
    instance.actionEventIds = [];
    instance.nextEventId = 0;
    instance.retries.clear();
    // Like DurableTask.Core without preserveUnprocessedEvents: queued events of the old run are dropped.
    instance.inbox = [this.#executionStarted(instance.name, instance.instanceId, instance.executionId, inputJson, instance.parent, now)];
    instance.lastUpdatedTime = now;
  }

  #fail(instance: Instance, message: string, now: Date): void {
    instance.history.push(historyEvent('ExecutionCompleted', now, { OrchestrationStatus: 'Failed', Result: message }));
    this.#finish(instance, 'Failed', message, now);
    this.#notifyParent(instance, false, message, JSON.stringify({ Message: message }));
  }

  #finish(instance: Instance, status: RuntimeStatus, output: unknown, now: Date): void {
    this.#clearTimers(instance);
    instance.status = status;
    instance.output = output;
    instance.inbox = [];
    instance.retries.clear();
    instance.lastUpdatedTime = now;
  }

  #notifyParent(instance: Instance, succeeded: boolean, resultOrReason: string, details: string): void {
    const link = instance.parent;
    if (!link) return;
    const parent = this.#instances.get(link.instanceId);
    if (!parent || parent.executionId !== link.executionId || !isActive(parent.status)) return;
    this.#enqueue(
      parent,
      succeeded
        ? historyEvent('SubOrchestrationInstanceCompleted', new Date(), { TaskScheduledId: link.taskScheduledId, Result: resultOrReason })
        : historyEvent('SubOrchestrationInstanceFailed', new Date(), { TaskScheduledId: link.taskScheduledId, Reason: resultOrReason, Details: details }),
    );
  }

  #clearTimers(instance: Instance): void {
    for (const handle of instance.timers.values()) clearTimeout(handle);
    instance.timers.clear();
  }
}

/** The extension refuses ids that cannot be stored as table keys or that name entities. */
function validateInstanceId(id: string): void {
  // eslint-disable-next-line no-control-regex
  if (id.length > 256 || /[/\\#?\u0000-\u001f\u007f-\u009f]/.test(id) || id.startsWith('@')) {
    throw new TaskHubError(400, `Instance ID '${id}' is invalid: it must be at most 256 characters and must not contain /, \\, #, ? or control characters, nor start with @.`);
  }
}
