import { describe, expect, it } from 'vitest';
import { parseSchedule, ScheduleError } from './ncrontab.js';
import { flexScheduleWarnings } from './timers.js';

/** A UTC instant: schedules are evaluated in UTC, as in Azure (Linux, Flex Consumption). */
const at = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(Date.UTC(y, mo - 1, d, h, mi, s));

describe('parseSchedule (NCRONTAB)', () => {
  it('reads six fields with seconds', () => {
    const s = parseSchedule('0 */5 * * * *');
    expect(s.next(at(2024, 3, 1, 12, 3, 10))).toEqual(at(2024, 3, 1, 12, 5, 0));
    expect(s.next(at(2024, 3, 1, 12, 5, 0))).toEqual(at(2024, 3, 1, 12, 10, 0));
  });

  it('runs every n seconds', () => {
    const s = parseSchedule('*/15 * * * * *');
    expect(s.next(at(2024, 3, 1, 12, 0, 14))).toEqual(at(2024, 3, 1, 12, 0, 15));
    expect(s.next(at(2024, 3, 1, 12, 0, 59))).toEqual(at(2024, 3, 1, 12, 1, 0));
  });

  it('honours ranges, lists and names', () => {
    const weekdays = parseSchedule('0 30 9 * * 1-5');
    // 2024-03-02 is a Saturday.
    expect(weekdays.next(at(2024, 3, 2, 8))).toEqual(at(2024, 3, 4, 9, 30));
    const named = parseSchedule('0 0 12 * JAN,feb Mon');
    expect(named.next(at(2024, 2, 27))).toEqual(at(2025, 1, 6, 12));
  });

  it('ANDs day-of-month and day-of-week like NCrontab', () => {
    // The next Friday the 13th after 2024-01-01 is 2024-09-13.
    expect(parseSchedule('0 0 0 13 * 5').next(at(2024, 1, 1))).toEqual(at(2024, 9, 13));
  });

  it('accepts five-field expressions (seconds = 0) and TimeSpan intervals', () => {
    expect(parseSchedule('15 3 * * *').next(at(2024, 3, 1, 3, 15, 0))).toEqual(at(2024, 3, 2, 3, 15, 0));
    const every = parseSchedule('00:05:00');
    expect(every.next(at(2024, 3, 1, 12, 0, 1)).getTime() - at(2024, 3, 1, 12, 0, 1).getTime()).toBe(5 * 60_000);
    expect(parseSchedule('1.00:00:00').next(at(2024, 3, 1)).getTime() - at(2024, 3, 1).getTime()).toBe(24 * 3600_000);
  });

  it('refuses what the host refuses', () => {
    expect(() => parseSchedule('0 0 * * *  * *')).toThrow(ScheduleError);
    expect(() => parseSchedule('0 60 * * * *')).toThrow(/minute 60/);
    expect(() => parseSchedule('0 0 0 * * 7')).toThrow(/day-of-week 7/);
    expect(() => parseSchedule('0 0 0 * * FOO')).toThrow(ScheduleError);
    expect(() => parseSchedule('0 0 0 31 2 *').next(at(2024, 1, 1))).toThrow(/no occurrence/);
  });

  it('evaluates schedules in UTC, whatever TZ the process has', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = `import { parseSchedule } from ${JSON.stringify(new URL('./ncrontab.ts', import.meta.url).href)};
      process.stdout.write(parseSchedule('0 30 2 * * *').next(new Date('2024-03-01T00:00:00Z')).toISOString());`;
    for (const tz of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, TZ: tz } });
      expect(out.toString(), tz).toBe('2024-03-01T02:30:00.000Z');
    }
  });

  it('tells a TimeSpan interval from an NCRONTAB expression, and warns that Flex Consumption has no TimeSpan schedules', () => {
    expect(parseSchedule('00:05:00').isTimeSpan).toBe(true);
    expect(parseSchedule('0 */5 * * * *').isTimeSpan).toBe(false);
    expect(flexScheduleWarnings('poll', parseSchedule('00:05:00'))).toEqual([expect.stringMatching(/TimeSpan.*App Service .*not on Flex Consumption/)]);
    expect(flexScheduleWarnings('poll', parseSchedule('0 */5 * * * *'))).toEqual([]);
  });
});
