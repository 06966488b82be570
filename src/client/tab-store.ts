// What a tab keeps across reloads, in the browser's IndexedDB (per origin, so per hub): the
// tab's libp2p key and its session (key seed and signed binding) for each run, whether it was in
// the swarm when it closed, and after every round θ, AdamW state and the error feedback. A reload
// then resumes the same session with the same error feedback instead of starting over. It also
// remembers the run's authority it first saw at each origin (authority.ts: trust on first use),
// and the person's data caps with the bytes moved in the current day and month (data-caps.ts).
import { bindingId } from '../identity/binding.ts';
import type { SavedSession } from '../identity/session.ts';
import type { CheckpointFiles } from '../train/checkpoint.ts';
import type { AuthorityMemory } from './authority.ts';
import { readCaps, type DataCaps, type DataUsage } from './data-caps.ts';

const DB_NAME = 'webloco';
/** 2 added AUTHORITIES, 3 DATA_CAPS. */
const DB_VERSION = 3;
const TABS = 'tabs';
const PROGRESS = 'progress';
const AUTHORITIES = 'authorities';
/** Two records: the caps (`limits`) and the usage counted so far (`usage`), for every run at this origin. */
const DATA_CAPS = 'dataCaps';

/** A tab's membership of one run. */
export interface SavedTab {
  runId: string;
  /** The libp2p node's private key (protobuf), so the binding's peer id stays this tab's. */
  peerKey: Uint8Array;
  session: SavedSession;
  /** How the hotkey was labelled (wallet account name, or the burner label). */
  label: string;
  /** The tab was in the swarm when it was last seen: a reload rejoins by itself. */
  active: boolean;
  /** Rounds still asked for when it last saved. */
  roundsLeft: number;
}

/** θ, AdamW state and e after a round, as the worker's snapshot() gave them. */
export interface SavedProgress {
  round: number;
  modelHash: string;
  files: CheckpointFiles;
  errorFeedback: Float32Array;
  errorFeedbackHash: string;
  savedAt: number;
}

export class TabStore implements AuthorityMemory {
  private constructor(private readonly db: IDBDatabase) {}

  /** Opens (creating on first use) this origin's store; throws where IndexedDB is unavailable. */
  static open(name = DB_NAME): Promise<TabStore> {
    if (typeof indexedDB === 'undefined')
      return Promise.reject(new Error('this browser has no IndexedDB: the tab cannot save its session'));
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(name, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(TABS)) db.createObjectStore(TABS, { keyPath: 'runId' });
        if (!db.objectStoreNames.contains(PROGRESS)) db.createObjectStore(PROGRESS);
        if (!db.objectStoreNames.contains(AUTHORITIES)) db.createObjectStore(AUTHORITIES);
        if (!db.objectStoreNames.contains(DATA_CAPS)) db.createObjectStore(DATA_CAPS);
      };
      request.onsuccess = () => resolve(new TabStore(request.result));
      request.onerror = () => reject(new Error(`IndexedDB would not open: ${request.error?.message ?? 'no reason given'}`));
      request.onblocked = () =>
        reject(new Error('IndexedDB is blocked by another tab of this page holding an older version: close it and reload'));
    });
  }

  tab(runId: string): Promise<SavedTab | undefined> {
    return this.request(TABS, 'readonly', (s) => s.get(runId));
  }

  async saveTab(tab: SavedTab): Promise<void> {
    await this.request(TABS, 'readwrite', (s) => s.put(tab));
  }

  /** Marks the run's tab as in the swarm or not (a reload resumes only an active one). */
  async setActive(runId: string, active: boolean, roundsLeft?: number): Promise<void> {
    const tab = await this.tab(runId);
    if (tab) await this.saveTab({ ...tab, active, ...(roundsLeft !== undefined ? { roundsLeft } : {}) });
  }

  progress(runId: string, bindingId: string): Promise<SavedProgress | undefined> {
    return this.request(PROGRESS, 'readonly', (s) => s.get(progressKey(runId, bindingId)));
  }

  async saveProgress(runId: string, bindingId: string, progress: SavedProgress): Promise<void> {
    await this.request(PROGRESS, 'readwrite', (s) => s.put(progress, progressKey(runId, bindingId)));
  }

  /** The run's authority this browser first saw at `origin` (an SS58 address), if any. */
  authority(origin: string): Promise<string | undefined> {
    return this.request(AUTHORITIES, 'readonly', (s) => s.get(origin));
  }

  async rememberAuthority(origin: string, address: string): Promise<void> {
    await this.request(AUTHORITIES, 'readwrite', (s) => s.put(address, origin));
  }

  /** The person's data caps at this origin (no limit where none was set). */
  async dataCaps(): Promise<DataCaps> {
    return readCaps(await this.request(DATA_CAPS, 'readonly', (s) => s.get('limits')));
  }

  async saveDataCaps(caps: DataCaps): Promise<void> {
    await this.request(DATA_CAPS, 'readwrite', (s) => s.put(caps, 'limits'));
  }

  /** The bytes moved with the swarm in the day and month last counted, if any. */
  dataUsage(): Promise<DataUsage | undefined> {
    return this.request(DATA_CAPS, 'readonly', (s) => s.get('usage'));
  }

  async saveDataUsage(usage: DataUsage): Promise<void> {
    await this.request(DATA_CAPS, 'readwrite', (s) => s.put(usage, 'usage'));
  }

  /** Forgets the run's session and progress (the user chose to start over). */
  async forget(runId: string): Promise<void> {
    const tab = await this.tab(runId);
    await this.request(TABS, 'readwrite', (s) => s.delete(runId));
    if (tab) await this.request(PROGRESS, 'readwrite', (s) => s.delete(progressKey(runId, bindingId(tab.session.signed.binding))));
  }

  close(): void {
    this.db.close();
  }

  private request<T>(store: string, mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest): Promise<T> {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(store, mode);
      const request = op(tx.objectStore(store));
      // Resolved when the transaction commits, so a write is durable before the caller goes on.
      tx.oncomplete = () => resolve(request.result as T);
      tx.onerror = () => reject(new Error(`IndexedDB ${store}: ${tx.error?.message ?? request.error?.message ?? 'failed'}`));
      tx.onabort = () => reject(new Error(`IndexedDB ${store}: ${tx.error?.message ?? 'aborted (is the disk full?)'}`));
    });
  }
}

function progressKey(runId: string, bindingId: string): string {
  return `${runId}/${bindingId}`;
}
