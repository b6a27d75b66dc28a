/**
 * Timer trigger schedules as the Functions host reads them: NCRONTAB expressions with six fields
 * (`second minute hour day month day-of-week`, five-field expressions are also accepted), or a
 * TimeSpan (`hh:mm:ss`, `d.hh:mm:ss`) meaning "every interval". Like NCrontab, a day must satisfy
 * both the day-of-month and the day-of-week field (they are ANDed, unlike Vixie cron).
 *
 * Times are evaluated in UTC, whatever the machine's time zone. The timer listener uses the
 * process's local time (DateTimeOffset.Now, Azure/azure-webjobs-sdk-extensions,
 * src/WebJobs.Extensions/Extensions/Timers/Listener/TimerListener.cs), which on Azure is UTC; only
 * WEBSITE_TIME_ZONE changes it, and that setting is not supported on Linux Consumption or Flex
 * Consumption (MicrosoftDocs/azure-docs, articles/azure-functions/functions-bindings-timer.md,
 * "NCRONTAB time zones"). A developer's own TZ must not move the schedule.
 */

/** A parsed schedule. */
export interface TimerSchedule {
  readonly expression: string;
  /** A TimeSpan (`hh:mm:ss`) interval rather than an NCRONTAB expression. */
  readonly isTimeSpan: boolean;
  /** The first occurrence strictly after `after`. */
  next(after: Date): Date;
}

/** Raised for a schedule the host would refuse. */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

const monthNames = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const dayNames = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  nameBase?: number;
}

const fields: FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: monthNames, nameBase: 1 },
  { name: 'day-of-week', min: 0, max: 6, names: dayNames, nameBase: 0 },
];

function parseValue(text: string, spec: FieldSpec, expression: string): number {
  const lower = text.toLowerCase();
  if (spec.names) {
    const index = spec.names.indexOf(lower.slice(0, 3));
    if (index >= 0 && /^[a-z]+$/.test(lower)) return index + (spec.nameBase ?? 0);
  }
  if (!/^\d+$/.test(text)) throw new ScheduleError(`Invalid ${spec.name} "${text}" in schedule "${expression}"`);
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw new ScheduleError(`${spec.name} ${value} is outside ${spec.min}-${spec.max} in schedule "${expression}"`);
  }
  return value;
}

function parseField(text: string, spec: FieldSpec, expression: string): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const [rangeText = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new ScheduleError(`Invalid step "${item}" in schedule "${expression}"`);
    let from: number;
    let to: number;
    if (rangeText === '*' || rangeText === '?') {
      from = spec.min;
      to = spec.max;
    } else if (rangeText.includes('-')) {
      const [a = '', b = ''] = rangeText.split('-');
      from = parseValue(a, spec, expression);
      to = parseValue(b, spec, expression);
      if (to < from) throw new ScheduleError(`Invalid range "${rangeText}" in schedule "${expression}"`);
    } else {
      from = parseValue(rangeText, spec, expression);
      to = stepText === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

const timeSpanRe = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?$/;

/** Parses an NCRONTAB expression or a TimeSpan. Throws {@link ScheduleError}. */
export function parseSchedule(expression: string): TimerSchedule {
  const trimmed = expression.trim();
  const span = timeSpanRe.exec(trimmed);
  if (span) {
    const ms = (((Number(span[1] ?? 0) * 24 + Number(span[2])) * 60 + Number(span[3])) * 60 + Number(span[4] ?? 0)) * 1000;
    if (ms <= 0) throw new ScheduleError(`Schedule "${expression}" must be a positive interval`);
    return { expression, isTimeSpan: true, next: (after) => new Date(after.getTime() + ms) };
  }
  const parts = trimmed.split(/\s+/);
  if (parts.length === 5) parts.unshift('0');
  if (parts.length !== 6) {
    throw new ScheduleError(`Schedule "${expression}" must have six fields (second minute hour day month day-of-week)`);
  }
  const sets = parts.map((p, i) => parseField(p, fields[i] as FieldSpec, expression));
  const [seconds, minutes, hours, days, months, weekdays] = sets as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];

  const next = (after: Date): Date => {
    const t = new Date(after.getTime());
    t.setUTCMilliseconds(0);
    t.setUTCSeconds(t.getUTCSeconds() + 1);
    const limit = after.getTime() + 5 * 366 * 24 * 3600 * 1000;
    while (t.getTime() <= limit) {
      if (!months.has(t.getUTCMonth() + 1)) {
        t.setUTCMonth(t.getUTCMonth() + 1, 1);
        t.setUTCHours(0, 0, 0);
        continue;
      }
      if (!days.has(t.getUTCDate()) || !weekdays.has(t.getUTCDay())) {
        t.setUTCDate(t.getUTCDate() + 1);
        t.setUTCHours(0, 0, 0);
        continue;
      }
      if (!hours.has(t.getUTCHours())) {
        t.setUTCHours(t.getUTCHours() + 1, 0, 0);
        continue;
      }
      if (!minutes.has(t.getUTCMinutes())) {
        t.setUTCMinutes(t.getUTCMinutes() + 1, 0);
        continue;
      }
      if (!seconds.has(t.getUTCSeconds())) {
        t.setUTCSeconds(t.getUTCSeconds() + 1);
        continue;
      }
      return t;
    }
    throw new ScheduleError(`Schedule "${expression}" has no occurrence in the next five years`);
  };
  return { expression, isTimeSpan: false, next };
}
