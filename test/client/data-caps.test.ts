// Data caps: local days and months, the counter rolling over when its period turns, and the
// decision whether a cap is used up. Dates are built in local time, as the tab counts them.
import { describe, expect, it } from 'vitest';
import {
  NO_CAPS,
  addUsage,
  capsReached,
  periodEnd,
  periodKey,
  readCaps,
  usageAt,
  validLimit,
  type DataCaps,
} from '../../src/client/data-caps.ts';

const at = (y: number, m: number, d: number, h = 12, min = 0) => new Date(y, m - 1, d, h, min);

describe('data caps', () => {
  it('names local days and months, and says when each ends', () => {
    expect(periodKey('day', at(2026, 12, 7, 23, 59))).toBe('2026-12-07');
    expect(periodKey('month', at(2026, 12, 7))).toBe('2026-12');
    expect(periodEnd('day', at(2026, 12, 7, 23, 59))).toEqual(at(2026, 12, 8, 0));
    expect(periodEnd('day', at(2026, 12, 31, 0, 0))).toEqual(at(2027, 1, 1, 0));
    expect(periodEnd('month', at(2026, 12, 7))).toEqual(at(2027, 1, 1, 0));
    expect(periodEnd('month', at(2027, 2, 28, 23, 59))).toEqual(at(2027, 3, 1, 0));
  });

  it('counts each direction in the day and the month, and starts a period over when it turns', () => {
    let usage = addUsage(undefined, 'up', 1000, at(2026, 12, 7, 9));
    usage = addUsage(usage, 'down', 300, at(2026, 12, 7, 10));
    usage = addUsage(usage, 'up', 24, at(2026, 12, 7, 23, 59));
    expect(usage).toEqual({ day: { period: '2026-12-07', up: 1024, down: 300 }, month: { period: '2026-12', up: 1024, down: 300 } });
    // Past midnight the day starts at zero; the month goes on.
    expect(usageAt(usage, at(2026, 12, 8, 0, 0))).toEqual({
      day: { period: '2026-12-08', up: 0, down: 0 },
      month: { period: '2026-12', up: 1024, down: 300 },
    });
    usage = addUsage(usage, 'down', 5, at(2026, 12, 8, 0, 1));
    expect(usage.day).toEqual({ period: '2026-12-08', up: 0, down: 5 });
    expect(usage.month).toEqual({ period: '2026-12', up: 1024, down: 305 });
    // A new month starts both over.
    expect(usageAt(usage, at(2027, 1, 1, 0, 0))).toEqual({
      day: { period: '2027-01-01', up: 0, down: 0 },
      month: { period: '2027-01', up: 0, down: 0 },
    });
  });

  it('says which caps are used up and when each resumes', () => {
    const caps: DataCaps = { day: { up: 1000, down: null }, month: { up: null, down: 5000 } };
    const morning = at(2026, 12, 7, 9);
    expect(capsReached(caps, addUsage(undefined, 'up', 999, morning), morning)).toEqual([]);
    expect(capsReached(NO_CAPS, addUsage(undefined, 'up', 1e12, morning), morning)).toEqual([]);
    let usage = addUsage(undefined, 'up', 1000, morning);
    expect(capsReached(caps, usage, morning)).toEqual([
      { period: 'day', direction: 'up', used: 1000, limit: 1000, resumesAt: at(2026, 12, 8, 0).getTime() },
    ]);
    usage = addUsage(usage, 'down', 6000, morning);
    expect(capsReached(caps, usage, morning).map((r) => `${r.period} ${r.direction}`)).toEqual(['day up', 'month down']);
    // The next day the daily cap is lifted; the monthly one holds until the 1st.
    expect(capsReached(caps, usage, at(2026, 12, 8, 0, 0))).toEqual([
      { period: 'month', direction: 'down', used: 6000, limit: 5000, resumesAt: at(2027, 1, 1, 0).getTime() },
    ]);
    // A cap of zero allows no exchange at all.
    expect(capsReached({ ...NO_CAPS, day: { up: 0, down: null } }, undefined, morning)).toHaveLength(1);
  });

  it('reads stored caps, taking anything malformed as no limit', () => {
    const caps: DataCaps = { day: { up: 1000, down: null }, month: { up: null, down: 5000 } };
    expect(readCaps(JSON.parse(JSON.stringify(caps)))).toEqual(caps);
    expect(readCaps(undefined)).toEqual(NO_CAPS);
    expect(readCaps({ day: { up: -1, down: 1.5 }, month: 'a lot' })).toEqual(NO_CAPS);
    expect(validLimit(0)).toBe(true);
    expect(validLimit(Number.NaN)).toBe(false);
  });
});
