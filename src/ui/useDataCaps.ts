// React hook around the tab's data caps (src/client/data-caps.ts): the person's limits and the bytes
// the swarm's transfers moved in the current local day and month, both kept in IndexedDB
// (TabStore) so that a reload neither forgets a cap nor starts its count over; and which caps are
// used up now. The page pauses the tab for the `cap` reason while any is (useMachineCare), and
// does not rejoin the swarm until its period turns.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { errorMessage } from '../base/errors.ts';
import {
  NO_CAPS,
  addUsage,
  capsReached,
  periodKey,
  usageAt,
  validLimit,
  type CapDirection,
  type CapPeriod,
  type DataCaps,
  type DataUsage,
} from '../client/data-caps.ts';
import { TabStore } from '../client/tab-store.ts';
import type { Transfer } from '../swarm/swarm.ts';

/**
 * How often the hook looks at the clock for a period that turned. A check every few seconds
 * rather than one timer for the period's end: a computer that sleeps through midnight wakes with
 * its timers late and its clock right.
 */
const CLOCK_CHECK_MS = 5_000;

export function useDataCaps() {
  const [caps, setCaps] = useState<DataCaps>(NO_CAPS);
  const [usage, setUsage] = useState<DataUsage | undefined>(undefined);
  /** 'loading' until the store answered; a message when this browser keeps nothing (counts then last until the tab closes). */
  const [storage, setStorage] = useState<'loading' | 'kept' | { unavailable: string }>('loading');
  const [now, setNow] = useState(() => Date.now());
  const store = useRef<TabStore | null>(null);
  // The count and the caps themselves, outside React's batching, so that transfers ending together
  // all add up and each write to the store holds the latest.
  const counted = useRef<DataUsage | undefined>(undefined);
  const limits = useRef<DataCaps>(NO_CAPS);
  /** Transfers that ended before the store answered, added to what it holds once it does. */
  const early = useRef<{ direction: CapDirection; bytes: number; at: Date }[] | null>([]);

  const record = useCallback((next: DataUsage) => {
    counted.current = next;
    setUsage(next);
    setNow(Date.now());
    // Each write holds the whole count, and IndexedDB applies them in order: the last one wins.
    store.current?.saveDataUsage(next).catch((err: unknown) => console.warn(`data usage not saved: ${errorMessage(err)}`));
  }, []);

  useEffect(() => {
    let closed = false;
    /** Adds the transfers counted while loading to what the store held; counting goes on from there. */
    const settle = (s: TabStore | null, stored: DataCaps, saved: DataUsage | undefined, kept: typeof storage) => {
      store.current = s;
      limits.current = stored;
      setCaps(stored);
      let total = saved;
      for (const e of early.current ?? []) total = addUsage(total, e.direction, e.bytes, e.at);
      early.current = null;
      if (total) record(total);
      setStorage(kept);
    };
    // Nothing kept across reloads (a private window): the count lasts as long as the tab.
    const unavailable = (err: unknown) => !closed && settle(null, NO_CAPS, undefined, { unavailable: errorMessage(err) });
    TabStore.open().then(async (s) => {
      try {
        const [stored, saved] = await Promise.all([s.dataCaps(), s.dataUsage()]);
        if (closed) return s.close();
        settle(s, stored, saved, 'kept');
      } catch (err) {
        s.close();
        unavailable(err);
      }
    }, unavailable);
    return () => {
      closed = true;
      store.current?.close();
      store.current = null;
    };
  }, [record]);

  useEffect(() => {
    // Only a new day (or month: a new day too) changes anything; the same `then` renders nothing.
    const timer = setInterval(
      () => setNow((then) => (periodKey('day', new Date()) === periodKey('day', new Date(then)) ? then : Date.now())),
      CLOCK_CHECK_MS,
    );
    return () => clearInterval(timer);
  }, []);

  /** Adds what one transfer moved: what it sent counts as upload, what it received as download. */
  const count = useCallback(
    (transfer: Transfer) => {
      const at = new Date();
      const moved = (['up', 'down'] as const).map((direction) => ({
        direction,
        bytes: direction === 'up' ? transfer.sent : transfer.received,
        at,
      }));
      if (early.current) {
        early.current.push(...moved.filter((m) => m.bytes > 0));
        return;
      }
      let next = counted.current;
      for (const m of moved) if (m.bytes > 0) next = addUsage(next, m.direction, m.bytes, at);
      if (next && next !== counted.current) record(next);
    },
    [record],
  );

  const setLimit = useCallback((period: CapPeriod, direction: CapDirection, bytes: number | null) => {
    if (!validLimit(bytes)) return;
    const next = { ...limits.current, [period]: { ...limits.current[period], [direction]: bytes } };
    limits.current = next;
    setCaps(next);
    store.current?.saveDataCaps(next).catch((err: unknown) => console.warn(`data caps not saved: ${errorMessage(err)}`));
  }, []);

  const current = useMemo(() => usageAt(usage, new Date(now)), [usage, now]);
  const reached = useMemo(() => capsReached(caps, usage, new Date(now)), [caps, usage, now]);
  return { caps, usage: current, reached, loaded: storage !== 'loading', storage, setLimit, count };
}

export type DataCapsState = ReturnType<typeof useDataCaps>;
