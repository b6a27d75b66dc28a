/**
 * Timer triggers on their NCRONTAB schedules (`%SETTING%` references resolved), in the host
 * process's local time. A timer never overlaps itself: its next occurrence is computed when an
 * invocation ends. `runOnStartup` is honoured. The function receives the TimerInfo the host sends
 * (`Schedule`, `ScheduleStatus`, `IsPastDue`), from which the library builds its `Timer`.
 */
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
}

/** The host's timers. */
export interface HostTimers {
  /** Parsed schedules by function name; a function whose schedule cannot be read has none. */
  readonly schedules: ReadonlyMap<string, TimerSchedule>;
  /** Runs a timer function now, outside its schedule (the admin API). */
  invokeNow(fn: RegisteredFunction, reason: string): Promise<void>;
  /** Arms every schedule and runs the `runOnStartup` timers. */
  start(): void;
  /** Disarms every schedule; no timer starts after this. */
  stop(): void;
}

/** Reads the schedules of the timer-triggered functions (logging the ones it cannot read). */
export function createTimers(options: TimersOptions): HostTimers {
  const { functions, env, run, inputBindings, log } = options;
  const timerHandles = new Set<NodeJS.Timeout>();
  const lastRun = new Map<string, Date>();
  let stopping = false;

  const timerInfo = (fn: RegisteredFunction, scheduled: Date, next: Date | undefined, isPastDue: boolean) => {
    const last = lastRun.get(fn.name);
    return {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: { Last: (last ?? new Date(0)).toISOString(), Next: (next ?? scheduled).toISOString(), LastUpdated: new Date().toISOString() },
      IsPastDue: isPastDue,
    };
  };
  const invokeTimer = async (fn: RegisteredFunction, reason: string, info: unknown) => {
    try {
      await run(fn, { inputData: [{ name: fn.trigger.name, data: { json: JSON.stringify(info) } }, ...inputBindings(fn)] }, reason);
    } catch {
      // Logged by run(); a failing timer keeps its schedule.
    } finally {
      lastRun.set(fn.name, new Date());
    }
  };

  const schedules = new Map<string, TimerSchedule>();
  for (const fn of functions) {
    if (fn.trigger.type.toLowerCase() !== 'timertrigger') continue;
    const raw = typeof fn.trigger.schedule === 'string' ? fn.trigger.schedule : '';
    const expression = resolveSettingRefs(raw, env);
    try {
      if (expression === undefined) throw new Error(`schedule "${raw}" names a setting that is not set`);
      schedules.set(fn.name, parseSchedule(expression));
    } catch (error) {
      log(`Error: ${fn.name}: ${(error as Error).message}. The timer will not run on a schedule.`);
    }
  }

  const armTimer = (fn: RegisteredFunction, schedule: TimerSchedule) => {
    if (stopping) return;
    const due = schedule.next(new Date());
    const wait = () => {
      const remaining = due.getTime() - Date.now();
      const handle = setTimeout(
        () => {
          timerHandles.delete(handle);
          if (due.getTime() > Date.now()) return wait();
          const isPastDue = Date.now() - due.getTime() > 1000;
          void invokeTimer(fn, `Timer fired at ${new Date().toISOString()}`, timerInfo(fn, due, schedule.next(due), isPastDue)).then(() =>
            armTimer(fn, schedule),
          );
        },
        Math.max(0, Math.min(remaining, 2 ** 31 - 1)),
      );
      timerHandles.add(handle);
    };
    wait();
  };

  return {
    schedules,
    invokeNow: (fn, reason) => invokeTimer(fn, reason, timerInfo(fn, new Date(), undefined, false)),
    start() {
      for (const fn of functions) {
        const schedule = schedules.get(fn.name);
        if (!schedule) continue;
        if (fn.trigger.runOnStartup === true) {
          // After the caller has printed the function list, as the host does.
          setImmediate(() => {
            if (!stopping) void invokeTimer(fn, 'Timer fired at startup (runOnStartup)', timerInfo(fn, new Date(), schedule.next(new Date()), false));
          });
        }
        armTimer(fn, schedule);
      }
    },
    stop() {
      stopping = true;
      for (const handle of timerHandles) clearTimeout(handle);
      timerHandles.clear();
    },
  };
}
