// The tab's side of a swarm: joins the run of the hub that served the page. It reads the run
// (GET /api/run) and verifies the hub's chain (HttpChain), held to the authority the page's link
// names or this browser saw there first (authority.ts), starts the tab's libp2p node (WebSockets
// to the hub, direct WebRTC to other peers through the hub's relay), pays the chain's proof of
// work and has the hotkey (wallet account or burner key) sign the session binding once (the
// node's libp2p key co-signs it), registers it on chain, and builds the worker's engine peer with
// the run's settings. The node stays connected to the hub that served the page and to the run's
// first hub (it copies every committed payload from its committer); off a private network it dials
// only wss:// and takes the run's STUN/TURN servers. Then src/run/participant.ts runs the rounds,
// with the worker as its RoundBackend: the worker trains and compresses, the main thread
// announces, commits, fetches and hands the decision's payloads back. Same round logic as
// `webloco peer` (src/cli/peer.ts), which has its engine peer in the same process.
import { errorMessage } from '../base/errors.ts';
import * as Comlink from 'comlink';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { BlockVerificationError } from '../chain/block.ts';
import type { HttpChain } from '../chain/http-chain.ts';
import { ChainError } from '../chain/extrinsics.ts';
import { bindingId, type HotkeySigner } from '../identity/binding.ts';
import { peerSigningKey } from '../identity/peer-id.ts';
import { Session } from '../identity/session.ts';
import { DEFAULT_NULL_ROUNDS } from '../sparseloco/error-feedback.ts';
import { createBrowserPeer } from '../swarm/browser-peer.ts';
import { MemoryContentStore } from '../swarm/content.ts';
import { Swarm, type PeerLink, type Transfer } from '../swarm/swarm.ts';
import type { CheckpointFiles } from '../train/checkpoint.ts';
import type { ChainedRunInfo, HubAddress } from '../run/api.ts';
import { initialModelHash } from '../run/follow.ts';
import { fetchRunInfo, freshIceServers, PeerStatusReporter, type PeerStatusReport } from '../run/hub-client.ts';
import { Participant, type JoinedFrom, type ParticipantEvents, type ParticipantRound, type RoundBackend } from '../run/participant.ts';
import { connectPinned, type PinOptions } from './authority.ts';
import type { SavedProgress, SavedTab, TabStore } from './tab-store.ts';
import type { TrainerWorker } from './trainer-client.ts';
import type { TrainEvent } from './worker.ts';

/** A resumed session must have at least this long to run, or the tab asks for a new one. */
const RESUME_MARGIN_MS = 5 * 60_000;

/**
 * True when `hubUrl` names this machine or a private network (loopback, RFC 1918, link-local,
 * .local): the tab may then dial private addresses and plain ws://, which browsers' libp2p
 * refuses by default. Any other hub is on the internet: the tab dials wss:// only.
 */
function isPrivateHub(hubUrl: string): boolean {
  const host = new URL(hubUrl).hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host === '::1') return true;
  const v4 = host.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
  }
  return /^f[cd][0-9a-f]{2}:/i.test(host) || /^fe80:/i.test(host);
}

/** The session, as the page shows it. */
export interface SessionSummary {
  /** The binding's id on chain. */
  bindingId: string;
  hotkey: string;
  label: string;
  burner: boolean;
  expiresAt: number;
}

export type ParticipantStatus = ParticipantEvents['status']['detail'];

/** What the tab saved after a round: the page shows it (and the e it carries). */
export interface SavedRound {
  round: number;
  modelHash: string;
  step: number;
  heldOutLoss: number;
  errorFeedbackHash: string;
}

export interface JoinSwarmOptions {
  hubUrl: string;
  worker: TrainerWorker;
  /** Signs a new session's binding; unused when resuming a saved one. */
  signer?: HotkeySigner;
  /** Where the tab keeps its session and progress (and the authority it saw first) across reloads; without it nothing is saved. */
  store?: TabStore;
  /** The page's `#authority=…` (authorityFromFragment): the run's authority as its link names it. */
  authority?: string;
  /** Resume this saved membership (same session, θ and error feedback) instead of starting a new one. */
  resume?: SavedTab;
  /** After each round, once θ, AdamW state and e are saved (and evaluated). */
  onSaved?: (saved: SavedRound) => void;
  /** Rounds to take part in; default the rest of the run. */
  rounds?: number;
  onRound?: (round: ParticipantRound) => void;
  onStatus?: (status: ParticipantStatus) => void;
  /** The tab's connections, about once a second and on every change. */
  onLinks?: (links: PeerLink[]) => void;
  /** Each inner step the worker takes. */
  onStep?: (event: TrainEvent) => void;
  /** Progress of the join itself, for the page to say what it is waiting for. */
  onProgress?: (step: string) => void;
  /** Each payload or checkpoint transfer, fetched or served, with the bytes it sent and received (the data caps count these). */
  onTransfer?: (transfer: Transfer) => void;
}

export interface JoinedSwarm {
  info: ChainedRunInfo;
  peerId: string;
  session: SessionSummary;
  /** The run's first hub's peer id (checkpoints, and every committed payload). */
  hubPeerId: string;
  /** Every hub this tab keeps connected: the page's and the run's first, to tell their links from other peers'. */
  hubPeerIds: string[];
  /** Where θ came from when joining, and (resuming) the error feedback restored, by hash. */
  joinedFrom: JoinedFrom | null;
  restoredErrorFeedback: { round: number; hash: string } | null;
  /** Resuming from this tab's saved θ: the round it is the model of and its hash as the worker loaded it. */
  restoredModel: { round: number; modelHash: string } | null;
  /** Settles when the rounds are done, the tab left, or a round failed (rejects with why). */
  done: Promise<void>;
  links(): PeerLink[];
  /** Tells the run's hub whether this tab trains or is paused and why (signed by the session key; the wall shows it). */
  reportStatus(status: PeerStatusReport): Promise<void>;
  /**
   * Stops answering other peers' requests for payloads and checkpoints and fetching payloads as they
   * are announced (a tab at its data cap), or does both again.
   */
  setServing(serving: boolean): void;
  /** Stops after the current step: cancels training, stops the swarm node and the chain's polling. */
  leave(): Promise<void>;
}

export type { PeerStatusReport };

/** Says which of the chain's refusals the participant can act on, in words. */
function registrationMessage(err: unknown): string {
  if (err instanceof ChainError) {
    const hint =
      err.code === 'expired' || (err.code === 'malformed' && /expires/.test(err.message))
        ? " (check that this computer's clock is right)"
        : '';
    return `The run's chain refused this session (${err.code}): ${err.message}${hint}`;
  }
  return errorMessage(err);
}

/** Joins the swarm of the hub at `hubUrl`; resolves once registered and holding the run's current model. */
export async function joinSwarm(o: JoinSwarmOptions): Promise<JoinedSwarm> {
  const progress = (step: string) => o.onProgress?.(step);
  if (!o.signer && !o.resume) throw new Error('joining needs a hotkey to sign the session, or a saved session to resume');
  progress('reading the run from the hub and verifying its chain');
  const pin: PinOptions = { ...(o.authority !== undefined ? { fragment: o.authority } : {}), ...(o.store ? { memory: o.store } : {}) };
  let info: ChainedRunInfo;
  let chain: HttpChain;
  try {
    ({ info, chain } = await connectPinned(o.hubUrl, pin));
  } catch (err) {
    if (err instanceof BlockVerificationError)
      throw new Error(
        `The run's chain failed verification at block ${err.height}: ${err.message}. This hub serves a chain that was altered; do not join it.`,
        { cause: err },
      );
    throw err;
  }

  if (o.resume) checkResumable(o.resume, info.runId);
  const local = isPrivateHub(o.hubUrl);
  // A resumed session keeps its libp2p key: the binding names this peer id.
  const peerKey = o.resume ? privateKeyFromProtobuf(o.resume.peerKey) : await generateKeyPair('Ed25519');
  const node = await createBrowserPeer({
    runId: info.runId,
    privateKey: peerKey,
    dialPrivateAddresses: local,
    iceServers: freshIceServers(o.hubUrl, info.iceServers),
  });
  const hubs = [info.hub, ...(info.firstHub.peerId === info.hub.peerId ? [] : [info.firstHub])];
  const swarm = new Swarm({
    node,
    runId: info.runId,
    store: new MemoryContentStore(),
    keepConnected: hubs.flatMap((hub) => dialableAddresses(hub, local)),
    directLinks: true,
  });
  swarm.addEventListener('transfer', (e) => o.onTransfer?.(e.detail));
  const abort = new AbortController();
  let stopLinks = () => {};
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      abort.abort();
      stopLinks();
      chain.close();
      await o.worker.api.controls.cancel().catch(() => {});
      await swarm.stop().catch(() => {});
    })());
  try {
    progress('connecting to the hub');
    await swarm.start();
    stopLinks = watchLinks(swarm, (links) => o.onLinks?.(links));
    let session: Session;
    if (o.resume) {
      progress('restoring the saved session');
      const id = bindingId(o.resume.session.signed.binding);
      session = await Session.restore(o.resume.session, await chain.nextNonce({ binding: id }));
    } else {
      progress("paying the chain's proof of work, then waiting for the hotkey to sign the session binding");
      session = await Session.start(o.signer!, {
        run: info.runId,
        peer: peerSigningKey(peerKey),
        workBits: chain.bindingRules.workBits,
        signal: abort.signal,
      });
    }
    if (!(await chain.binding(session.id))) {
      progress("registering the session on the run's chain");
      // Registered before the worker loads, so a refusal shows at once, not after compiling kernels.
      try {
        await chain.register(session.signed);
      } catch (err) {
        throw new Error(registrationMessage(err), { cause: err });
      }
    }
    const label = o.resume?.label ?? o.signer!.label;
    const rounds = o.rounds ?? o.resume?.roundsLeft ?? Math.max(1, info.settings.rounds - info.round);
    const saved: SavedProgress | undefined = o.resume ? await o.store?.progress(info.runId, session.id) : undefined;
    await o.store?.saveTab({
      runId: info.runId,
      peerKey: privateKeyToProtobuf(peerKey),
      session: session.saved(),
      label,
      active: true,
      roundsLeft: rounds,
    });

    progress('loading data and compiling kernels');
    await o.worker.api.member.init({
      preset: info.settings.preset,
      batch: info.settings.batch,
      seqLen: info.settings.seqLen,
      innerSteps: info.settings.innerSteps,
      rounds: info.settings.rounds,
      runId: info.runId,
      hotkey: session.signed.binding.hotkey,
      // Null rounds count from the first round it contributes to (none if that is the run's first),
      // at least as many as the chain's binding age, so no payload is made that the chain would
      // refuse; a session resumed with its error feedback has none but what its binding's age asks.
      nullRounds: saved
        ? Math.max(0, ((await chain.firstCommitRound(session.id)) ?? 0) - info.round)
        : Math.max(DEFAULT_NULL_ROUNDS, chain.bindingRules.ageRounds),
    });
    let roundsLeft = rounds;
    const backend = workerBackend(o.worker, (e) => o.onStep?.(e));
    let loaded: JoinedSwarm['restoredModel'] = null;
    const participant = new Participant({
      swarm,
      chain,
      session,
      backend: {
        ...backend,
        load: async (files, round) => {
          const modelHash = await backend.load(files, round);
          loaded = { round, modelHash };
          return modelHash;
        },
      },
      hubPeerId: info.firstHub.peerId,
      latestCheckpoint: async () => {
        const latest = await fetchRunInfo(o.hubUrl);
        if (!latest?.checkpoint) throw new Error(`the hub at ${o.hubUrl} no longer reports a checkpoint`);
        return latest.checkpoint;
      },
      initialModelHash: () => initialModelHash(info.settings),
      ...(saved ? { localCheckpoint: async () => ({ round: saved.round, modelHash: saved.modelHash, files: saved.files }) } : {}),
      afterRound: async () => {
        roundsLeft = Math.max(0, roundsLeft - 1);
        const snapshot = await o.worker.api.member.snapshot();
        await o.store?.saveProgress(info.runId, session.id, {
          round: snapshot.round,
          modelHash: snapshot.modelHash,
          files: snapshot.files,
          errorFeedback: snapshot.errorFeedback,
          errorFeedbackHash: snapshot.errorFeedbackHash,
          savedAt: Date.now(),
        });
        await o.store?.setActive(info.runId, roundsLeft > 0, roundsLeft);
        o.onSaved?.({
          round: snapshot.round,
          modelHash: snapshot.modelHash,
          step: snapshot.step,
          heldOutLoss: snapshot.heldOutLoss,
          errorFeedbackHash: snapshot.errorFeedbackHash,
        });
      },
    });
    participant.addEventListener('round', (e) => o.onRound?.(e.detail));
    participant.addEventListener('status', (e) => o.onStatus?.(e.detail));
    progress("downloading the run's checkpoint and replaying its decisions");
    await participant.join();
    const restoredModel = participant.joinedFrom?.source === 'local' ? loaded : null;
    let restoredErrorFeedback: JoinedSwarm['restoredErrorFeedback'] = null;
    if (saved) {
      progress('restoring the error feedback');
      const hash = await o.worker.api.member.restoreErrorFeedback(saved.errorFeedback);
      if (hash !== saved.errorFeedbackHash)
        throw new Error(`the restored error feedback hashes to ${hash}, it was saved as ${saved.errorFeedbackHash}`);
      restoredErrorFeedback = { round: saved.round, hash };
    }

    // What the page says of this tab, sent again after every round with its GPU's utilisation.
    const status = new PeerStatusReporter(o.hubUrl, info.runId, session);
    status.follow(participant);
    const done = participant.run(rounds, abort.signal).then(
      () => stop(),
      async (err: unknown) => {
        // After leave() the round in flight fails on the stopped node: that is no error to report.
        const left = abort.signal.aborted;
        await stop();
        if (!left) throw err;
      },
    );
    return {
      info,
      peerId: swarm.peerId,
      hubPeerId: info.firstHub.peerId,
      hubPeerIds: hubs.map((h) => h.peerId),
      joinedFrom: participant.joinedFrom,
      restoredErrorFeedback,
      restoredModel,
      session: {
        bindingId: session.id,
        hotkey: session.signed.binding.hotkey,
        label,
        burner: session.burner,
        expiresAt: session.signed.binding.expiresAt,
      },
      done,
      links: () => swarm.links(),
      reportStatus: (report) => status.say(report),
      setServing: (serving) => {
        // At a data cap nothing is exchanged that can wait: no answers to others, no payloads fetched ahead of a decision.
        participant.prefetching = serving;
        if (serving) swarm.resumeServing();
        else swarm.stopServing('this peer is at its data cap and serves nothing now: fetch from another source');
      },
      leave: stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A hub's addresses this tab may dial: all of them on a private network, else the wss:// ones (a page off localhost is HTTPS, and may not open ws://). */
function dialableAddresses(hub: HubAddress, local: boolean) {
  return hub.multiaddrs
    .map((a) => multiaddr(a))
    .filter((a) => local || a.getComponents().some((c) => c.name === 'wss' || c.name === 'tls'));
}

/** Refuses a saved session of another run, one about to expire or one saved before bindings were peer-signed, saying what to do. */
function checkResumable(tab: SavedTab, runId: string): void {
  const { binding } = tab.session.signed;
  if (!('peerSignature' in tab.session.signed)) throw new Error('the saved session was made by an older version of this page: join again');
  if (binding.run !== runId) throw new Error(`the saved session is for run '${binding.run}', this hub runs '${runId}': join again`);
  if (binding.expiresAt <= Date.now() + RESUME_MARGIN_MS)
    throw new Error(`the saved session expired (${new Date(binding.expiresAt).toLocaleString()}): join again, the hotkey signs a new one`);
}

/** The worker's engine peer as the participant's backend; large arrays cross without copies where they can. */
function workerBackend(worker: TrainerWorker, onStep: (e: TrainEvent) => void): RoundBackend {
  return {
    async load(files: CheckpointFiles, round: number) {
      // Transferred when each file owns its whole buffer (a view into a shared one must be copied).
      const buffers = Object.values(files).map((f) => f.buffer as ArrayBuffer);
      const whole = Object.values(files).every((f) => f.byteOffset === 0 && f.byteLength === f.buffer.byteLength);
      const info = await worker.api.member.loadCheckpoint(whole ? Comlink.transfer(files, buffers) : files, round);
      return info.modelHash;
    },
    async contribute(round: number) {
      const c = await worker.api.member.contribute(round, Comlink.proxy(onStep));
      return { payload: c.payload, cancelled: c.cancelled, trainingMs: c.trainingMs, ...(c.skipped ? { skipped: c.skipped } : {}) };
    },
    // Payloads are copied: the participant keeps them in its store to serve other peers.
    applyDecision: (round: number, payloads: Uint8Array[]) => worker.api.member.applyDecision(round, payloads),
  };
}

/** Reports the swarm's links, with each WebRTC link's ICE path, on every connection change and once a second; returns the stop function. */
function watchLinks(swarm: Swarm, report: (links: PeerLink[]) => void): () => void {
  const send = () => void swarm.linksWithPaths().then(report, () => report(swarm.links()));
  const events = ['connection:open', 'connection:close'] as const;
  for (const event of events) swarm.node.addEventListener(event, send);
  const timer = setInterval(send, 1000);
  send();
  return () => {
    clearInterval(timer);
    for (const event of events) swarm.node.removeEventListener(event, send);
  };
}
