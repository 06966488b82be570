// Data caps: how many bytes the tab may move with the swarm in a day and in a month, each way, and
// how many it has moved. Periods are the person's local calendar (a day ends at local midnight, a
// month on the 1st at local midnight): a cap is what the person thinks of as "today" or "this
// month", like their provider's plan. Pure: the tab keeps caps and usage in IndexedDB
// (tab-store.ts), counts what the swarm's transfers move (swarm.ts, the 'transfer' event) and asks
// `capsReached` whether it must stop exchanging.

export const CAP_PERIODS = ['day', 'month'] as const;
export type CapPeriod = (typeof CAP_PERIODS)[number];
export const CAP_DIRECTIONS = ['up', 'down'] as const;
export type CapDirection = (typeof CAP_DIRECTIONS)[number];

/** The limits in bytes for each period and direction; null: no limit. */
export type DataCaps = Record<CapPeriod, Record<CapDirection, number | null>>;

export const NO_CAPS: DataCaps = { day: { up: null, down: null }, month: { up: null, down: null } };

/** Bytes moved in one period, named by `periodKey` (e.g. `2026-12-07`, `2026-12`). */
export interface PeriodUsage {
  period: string;
  up: number;
  down: number;
}

export type DataUsage = Record<CapPeriod, PeriodUsage>;

/** A cap that is used up: which, how far, and when its period ends (ms since the epoch). */
export interface CapReached {
  period: CapPeriod;
  direction: CapDirection;
  used: number;
  limit: number;
  resumesAt: number;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The local day (`YYYY-MM-DD`) or month (`YYYY-MM`) that `at` falls in. */
export function periodKey(period: CapPeriod, at: Date): string {
  const month = `${at.getFullYear()}-${pad(at.getMonth() + 1)}`;
  return period === 'month' ? month : `${month}-${pad(at.getDate())}`;
}

/** The first instant of the next local day or month after `at`. */
export function periodEnd(period: CapPeriod, at: Date): Date {
  return period === 'month'
    ? new Date(at.getFullYear(), at.getMonth() + 1, 1)
    : new Date(at.getFullYear(), at.getMonth(), at.getDate() + 1);
}

/** The usage as of `now`: a period that has turned since it was counted starts again at zero. */
export function usageAt(usage: DataUsage | undefined, now: Date): DataUsage {
  const current = (period: CapPeriod): PeriodUsage => {
    const key = periodKey(period, now);
    const held = usage?.[period];
    return held && held.period === key ? held : { period: key, up: 0, down: 0 };
  };
  return { day: current('day'), month: current('month') };
}

/** `usage` with `bytes` more moved in `direction` at `now`, counted in the day and the month. */
export function addUsage(usage: DataUsage | undefined, direction: CapDirection, bytes: number, now: Date): DataUsage {
  const at = usageAt(usage, now);
  return {
    day: { ...at.day, [direction]: at.day[direction] + bytes },
    month: { ...at.month, [direction]: at.month[direction] + bytes },
  };
}

/** Every cap used up at `now` (used ≥ limit), days before months, uploads before downloads. */
export function capsReached(caps: DataCaps, usage: DataUsage | undefined, now: Date): CapReached[] {
  const at = usageAt(usage, now);
  const reached: CapReached[] = [];
  for (const period of CAP_PERIODS) {
    for (const direction of CAP_DIRECTIONS) {
      const limit = caps[period][direction];
      const used = at[period][direction];
      if (limit !== null && used >= limit) reached.push({ period, direction, used, limit, resumesAt: periodEnd(period, now).getTime() });
    }
  }
  return reached;
}

/** A limit as the person may set it: a whole number of bytes, zero or more (zero: no exchange at all). */
export function validLimit(bytes: number | null): boolean {
  return bytes === null || (Number.isSafeInteger(bytes) && bytes >= 0);
}

/** Caps as read back from storage: anything missing or malformed is no limit. */
export function readCaps(value: unknown): DataCaps {
  const record = (v: unknown) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
  const limit = (v: unknown) => (typeof v === 'number' && validLimit(v) ? v : null);
  const stored = record(value);
  const period = (p: CapPeriod) => ({ up: limit(record(stored[p]).up), down: limit(record(stored[p]).down) });
  return { day: period('day'), month: period('month') };
}
