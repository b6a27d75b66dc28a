/**
 * Timer triggers on their NCRONTAB schedules (`%SETTING%` references resolved), in UTC, following
 * the WebJobs timer listener (Azure/azure-webjobs-sdk-extensions,
 * src/WebJobs.Extensions/Extensions/Timers/Listener/TimerListener.cs):
 *
 * - A timer never overlaps itself: its next occurrence is computed when an invocation ends.
 * - Schedule monitoring (`useMonitor`; by default on for schedules that fire at most once a minute,
 *   off for more frequent ones — MicrosoftDocs/azure-docs, articles/azure-functions/functions-bindings-timer.md)
 *   records the schedule status (Last, Next, LastUpdated) after every invocation. On start, when the
 *   recorded Next has passed (the host was down at that time), the function runs once at once with
 *   `IsPastDue: true` (one run, however many occurrences were missed), and that replaces the
 *   `runOnStartup` run. Scheduled runs have `IsPastDue: false`, even when they fire late.
 * - The TimerInfo carries `ScheduleStatus` only when the schedule is monitored.
 *
 * Azure keeps the status in the storage account (the `azure-webjobs-hosts` container); the local
 * host keeps it in `statusDir` when given (npm start: `.local/timers`), else in memory, which is a
 * host that has never run before.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { InputBindings } from './bindings.js';
import type { TaskHubHost } from './durable/task-hub.js';
import type { RegisteredFunction } from './functions-core.js';
import { resolveSettingRefs } from './host-config.js';
import { parseSchedule, type TimerSchedule } from './ncrontab.js';

/** Options of {@link createTimers}. */
export interface TimersOptions {
  /** The enabled functions; the timer-triggered ones get a schedule. */
  functions: readonly RegisteredFunction[];
  /** App settings, for `%NAME%` references in schedules. */
  env: Record<string, string | undefined>;
  /** Invokes a function the way the host does (logging it). */
  run: TaskHubHost['run'];
  inputBindings: InputBindings;
  log: (line: string) => void;
  /** Where monitored schedules keep their status between runs of the host; in memory when undefined. */
  statusDir?: string;
  /** The clock (tests). */
  now?: () => Date;
}

/** The host's timers. */
export interface HostTimers {
  /** Parsed schedules by function name; a function whose schedule cannot be read has none. */
  readonly schedules: ReadonlyMap<string, TimerSchedule>;
  /** Runs a timer function now, outside its schedule (the admin API). */
  invokeNow(fn: RegisteredFunction, reason: string): Promise<void>;
  /** Arms every schedule and runs the past-due and `runOnStartup` timers. */
  start(): void;
  /** Disarms every schedule; no timer starts after this. */
  stop(): void;
}

/** The schedule status the listener records (ScheduleStatus). */
interface ScheduleStatus {
  Last: string;
  Next: string;
  LastUpdated: string;
}

/** ScheduleMonitor.DefaultDateTime: DateTime.MinValue. */
const defaultDateTime = '0001-01-01T00:00:00.000Z';

/** Whether a schedule is monitored when `useMonitor` is not set: when it fires at most once a minute. */
function monitoredByDefault(schedule: TimerSchedule, from: Date): boolean {
  let t = from;
  for (let i = 0; i < 5; i++) {
    const n = schedule.next(t);
    if (n.getTime() - t.getTime() < 60_000 && i > 0) return false;
    t = n;
  }
  return true;
}

/** Problems a schedule has on Flex Consumption, where this app runs. */
export function flexScheduleWarnings(name: string, schedule: TimerSchedule): string[] {
  if (!schedule.isTimeSpan) return [];
  // "A TimeSpan can be used only for a function app that runs on an App Service Plan"
  // (MicrosoftDocs/azure-docs, articles/azure-functions/functions-bindings-timer.md).
  return [
    `${name}: the schedule "${schedule.expression}" is a TimeSpan, which Azure supports only on an App Service (Dedicated) plan, not on Flex Consumption. Use an NCRONTAB expression.`,
  ];
}

/** Reads the schedules of the timer-triggered functions (logging the ones it cannot read). */
export function createTimers(options: TimersOptions): HostTimers {
  const { functions, env, run, inputBindings, log, statusDir } = options;
  const now = options.now ?? (() => new Date());
  const timerHandles = new Set<NodeJS.Timeout>();
  const statuses = new Map<string, ScheduleStatus>();
  const monitored = new Set<string>();
  let stopping = false;

  const statusFile = (fn: RegisteredFunction) => (statusDir ? path.join(statusDir, `${fn.name.toLowerCase()}.json`) : undefined);
  const readStatus = (fn: RegisteredFunction): ScheduleStatus | undefined => {
    const file = statusFile(fn);
    if (!file || !existsSync(file)) return statuses.get(fn.name);
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as ScheduleStatus;
    } catch {
      return undefined;
    }
  };
  const writeStatus = (fn: RegisteredFunction, status: ScheduleStatus) => {
    statuses.set(fn.name, status);
    const file = statusFile(fn);
    if (!file) return;
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(status));
  };

  const timerInfo = (fn: RegisteredFunction, isPastDue: boolean) => ({
    Schedule: { AdjustForDST: true },
    ScheduleStatus: monitored.has(fn.name) ? (statuses.get(fn.name) ?? null) : null,
    IsPastDue: isPastDue,
  });

  /** Invokes, then records the status as InvokeJobFunction does. */
  const invokeTimer = async (fn: RegisteredFunction, reason: string, isPastDue: boolean, scheduled = false, record = true) => {
    const invocationTime = now();
    try {
      await run(fn, { inputData: [{ name: fn.trigger.name, data: { json: JSON.stringify(timerInfo(fn, isPastDue)) } }, ...inputBindings(fn)] }, reason);
    } catch {
      // Logged by run(); a failing timer keeps its schedule.
    }
    const schedule = schedules.get(fn.name);
    if (!schedule || !record) return;
    // A scheduled run that fired a little early counts as the occurrence it was for.
    const recordedNext = statuses.get(fn.name)?.Next;
    const adjusted = scheduled && recordedNext && new Date(recordedNext) > invocationTime ? new Date(recordedNext) : invocationTime;
    const status = { Last: adjusted.toISOString(), Next: schedule.next(adjusted).toISOString(), LastUpdated: adjusted.toISOString() };
    if (monitored.has(fn.name)) writeStatus(fn, status);
    else statuses.set(fn.name, status);
  };

  const schedules = new Map<string, TimerSchedule>();
  for (const fn of functions) {
    if (fn.trigger.type.toLowerCase() !== 'timertrigger') continue;
    const raw = typeof fn.trigger.schedule === 'string' ? fn.trigger.schedule : '';
    const expression = resolveSettingRefs(raw, env);
    try {
      if (expression === undefined) throw new Error(`schedule "${raw}" names a setting that is not set`);
      const schedule = parseSchedule(expression);
      schedules.set(fn.name, schedule);
      for (const warning of flexScheduleWarnings(fn.name, schedule)) log(`Warning: ${warning}`);
      const useMonitor = typeof fn.trigger.useMonitor === 'boolean' ? fn.trigger.useMonitor : monitoredByDefault(schedule, now());
      if (useMonitor) monitored.add(fn.name);
    } catch (error) {
      log(`Error: ${fn.name}: ${(error as Error).message}. The timer will not run on a schedule.`);
    }
  }
  if (schedules.size > 0 && env.WEBSITE_TIME_ZONE) {
    log(
      `Warning: WEBSITE_TIME_ZONE is set ("${env.WEBSITE_TIME_ZONE}") but Flex Consumption and Linux Consumption do not support it; schedules run in UTC here as they do there.`,
    );
  }

  const armTimer = (fn: RegisteredFunction) => {
    if (stopping) return;
    const status = statuses.get(fn.name);
    const due = status ? new Date(status.Next) : (schedules.get(fn.name) as TimerSchedule).next(now());
    const wait = () => {
      const remaining = due.getTime() - now().getTime();
      const handle = setTimeout(
        () => {
          timerHandles.delete(handle);
          if (stopping) return;
          if (due.getTime() > now().getTime()) return wait();
          void invokeTimer(fn, `Timer fired at ${now().toISOString()}`, false, true).then(() => armTimer(fn));
        },
        Math.max(0, Math.min(remaining, 2 ** 31 - 1)),
      );
      timerHandles.add(handle);
    };
    wait();
  };

  return {
    schedules,
    // The admin API invokes the function directly, not through the listener: no status is recorded.
    invokeNow: (fn, reason) => invokeTimer(fn, reason, false, false, false),
    start() {
      for (const fn of functions) {
        const schedule = schedules.get(fn.name);
        if (!schedule) continue;
        const startedAt = now();
        let pastDue = false;
        if (monitored.has(fn.name)) {
          const recorded = readStatus(fn);
          if (recorded && new Date(recorded.Next).getTime() < startedAt.getTime()) {
            pastDue = true;
            statuses.set(fn.name, recorded);
          } else {
            writeStatus(fn, recorded ?? { Last: defaultDateTime, Next: schedule.next(startedAt).toISOString(), LastUpdated: defaultDateTime });
          }
        } else {
          statuses.set(fn.name, { Last: defaultDateTime, Next: schedule.next(startedAt).toISOString(), LastUpdated: defaultDateTime });
        }
        if (pastDue || fn.trigger.runOnStartup === true) {
          // After the caller has printed the function list, as the host does; the regular schedule
          // resumes once that run ends.
          const reason = pastDue ? 'Timer is past due (missed while the host was down)' : 'Timer fired at startup (runOnStartup)';
          setImmediate(() => {
            if (stopping) return;
            void invokeTimer(fn, reason, pastDue).then(() => armTimer(fn));
          });
        } else {
          armTimer(fn);
        }
      }
    },
    stop() {
      stopping = true;
      for (const handle of timerHandles) clearTimeout(handle);
      timerHandles.clear();
    },
  };
}
