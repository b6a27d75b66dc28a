/**
 * Durable Task history events in the JSON shape the Durable Functions extension hands to
 * out-of-process SDKs (DurableTask.Core `HistoryEvent` serialized by Newtonsoft: PascalCase fields,
 * numeric `EventType`, `EventId` -1 for events that are not schedules).
 */

/** DurableTask.Core `EventType` values. */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export type EventTypeName = keyof typeof EventType;

/** A history event as serialized for the SDK. */
export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

/** Name of an event type number, e.g. `TaskCompleted`. */
export function eventTypeName(type: number): string {
  return Object.entries(EventType).find(([, v]) => v === type)?.[0] ?? `Unknown(${type})`;
}

/** Builds an event; `EventId` defaults to -1. */
export function historyEvent(type: EventTypeName, at: Date, fields: Record<string, unknown> = {}, eventId = -1): HistoryEvent {
  return { EventType: EventType[type], EventId: eventId, IsPlayed: false, Timestamp: at.toISOString(), ...fields };
}

/** The failure details the SDK turns into a `TaskFailedError` (DurableTask.Core `FailureDetails`). */
export interface FailureDetailsPayload {
  ErrorType: string;
  ErrorMessage: string;
  StackTrace?: string;
  IsNonRetriable?: boolean;
  Properties?: Record<string, unknown>;
  InnerFailure?: FailureDetailsPayload;
}
