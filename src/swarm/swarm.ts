// A peer's view of the swarm, the same in a browser tab, a headless Node peer and a hub: the
// run's gossip topics with strict codecs, the transfer protocols served from a ContentStore,
// direct WebRTC links to discovered peers, and hubs kept connected with backoff. It wraps a
// libp2p node made by createBrowserPeer / createNodePeer (or the hub) and owns it: stop() stops it.
import { asError, errorMessage } from '../base/errors.ts';
import { printable } from '../base/log-text.ts';
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub';
import { TypedEventEmitter, type Connection, type PeerId, type Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { ContentStore } from './content.ts';
import { DEFAULT_DIRECT_LINK_OPTIONS, DirectLinks, isDirectWebRTC, type DialFailure, type DirectLinkOptions } from './direct-links.ts';
import type { SignedDecision } from '../chain/extrinsics.ts';
import type { SignedAnnouncement } from '../identity/announcement.ts';
import { cryptoReady } from '../identity/keys.ts';
import { linkPath, type LinkPath } from './link-path.ts';
import { decodeAnnouncementMessage, decodeDecisionMessage, encodeAnnouncementMessage, encodeDecisionMessage } from './messages.ts';
import type { SwarmNode } from './node-config.ts';
import {
  CHECKPOINT_PROTOCOL,
  DEFAULT_REQUEST_RATE,
  DEFAULT_REQUEST_RATE_PER_ADDRESS,
  MAX_OBJECT_BYTES,
  PAYLOAD_PROTOCOL,
  announceTopic,
  assertRunId,
  decisionTopic,
  type TransferProtocol,
} from './protocol.ts';
import { RateLimiter, remoteAddressKey, type RateLimit } from './rate-limit.ts';
import type { TransferMeter } from './stream-bytes.ts';
import { fetchObject, serveObject, type Requester } from './transfer.ts';

export interface SwarmOptions {
  node: SwarmNode;
  runId: string;
  /** What this node serves on /webloco/payload/1 and /webloco/checkpoint/1. */
  store: ContentStore;
  /** Hubs (or any peers) to stay connected to; redialed with backoff when the link drops. */
  keepConnected?: Multiaddr[];
  /** Dial discovered peers' /webrtc addresses (browsers, headless peers with WebRTC). */
  directLinks?: boolean | Partial<DirectLinkOptions>;
  /** Per-peer limit on inbound requests, per transfer protocol (default DEFAULT_REQUEST_RATE). */
  requestRate?: RateLimit;
  /**
   * Per-address limit on inbound requests, per transfer protocol, shared by every peer id on one
   * IP address (an IPv6 /64) that connects straight from it (default DEFAULT_REQUEST_RATE_PER_ADDRESS).
   */
  requestRatePerAddress?: RateLimit;
  /** Largest object served or fetched, per protocol (defaults: MAX_OBJECT_BYTES). */
  maxObjectBytes?: Partial<Record<TransferProtocol, number>>;
  /** Inbound requests must arrive within this time (ms). */
  requestTimeoutMs?: number;
  /** The longest pause between redials of a kept connection (ms). */
  maxRedialDelayMs?: number;
  /**
   * Checks that need the run's state, run on every well-formed gossip message before it is
   * delivered or forwarded; throw to reject it. The round logic passes identity's
   * verifyAnnouncement (session binding, signature, round, replay) and the validator set here.
   */
  acceptGossip?: {
    announcement?: (signed: SignedAnnouncement, from: string) => void | Promise<void>;
    decision?: (signed: SignedDecision, from: string) => void | Promise<void>;
  };
}

/** One open connection, as seen from this node. */
export interface PeerLink {
  peer: string;
  /** `webrtc`: a direct browser-style link; `relayed`: through a circuit relay; else the transport. */
  kind: 'webrtc' | 'relayed' | 'websockets' | 'other';
  direct: boolean;
  remoteAddr: string;
  direction: 'inbound' | 'outbound';
  /** A direct WebRTC link's ICE path (direct or through TURN, and its bytes), from `linksWithPaths`. */
  path?: LinkPath;
}

export interface SwarmEvents {
  announcement: CustomEvent<{ from: string; message: SignedAnnouncement }>;
  decision: CustomEvent<{ from: string; message: SignedDecision }>;
  /** A gossip message failed its topic's codec and was dropped (not delivered, not forwarded). */
  'invalid-message': CustomEvent<{ from: string; topic: string; reason: string }>;
  'dial-failed': CustomEvent<DialFailure>;
  /**
   * One transfer ended (fetched or served, whole, refused or broken off): the bytes it sent and
   * received on its stream. The one place the swarm's payload and checkpoint traffic is counted.
   */
  transfer: CustomEvent<Transfer>;
}

/** What one transfer moved: `fetch` this node asked `peer` for an object, `serve` it answered `peer`. */
export interface Transfer extends TransferMeter {
  protocol: TransferProtocol;
  role: 'fetch' | 'serve';
  peer: string;
}

export class Swarm extends TypedEventEmitter<SwarmEvents> {
  readonly node: SwarmNode;
  readonly runId: string;
  readonly store: ContentStore;
  private readonly topics: { announce: string; decision: string };
  private readonly maxObjectBytes: Record<TransferProtocol, number>;
  private readonly limits: Record<TransferProtocol, { perPeer: RateLimiter; perAddress: RateLimiter }>;
  private readonly requestTimeoutMs: number;
  private readonly directLinks?: DirectLinks;
  private readonly keepConnected: Multiaddr[];
  private readonly maxRedialDelayMs: number;
  private readonly redialAttempts = new Map<string, number>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly decoded = new WeakMap<Message, SignedAnnouncement | SignedDecision>();
  private readonly acceptGossip: NonNullable<SwarmOptions['acceptGossip']>;
  private stopped = false;
  private notServing: string | undefined;

  constructor(options: SwarmOptions) {
    super();
    this.node = options.node;
    this.runId = assertRunId(options.runId);
    this.store = options.store;
    this.topics = { announce: announceTopic(this.runId), decision: decisionTopic(this.runId) };
    this.maxObjectBytes = { ...MAX_OBJECT_BYTES, ...options.maxObjectBytes };
    const limits = () => ({
      perPeer: new RateLimiter(options.requestRate ?? DEFAULT_REQUEST_RATE),
      perAddress: new RateLimiter(options.requestRatePerAddress ?? DEFAULT_REQUEST_RATE_PER_ADDRESS),
    });
    this.limits = { [PAYLOAD_PROTOCOL]: limits(), [CHECKPOINT_PROTOCOL]: limits() };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.keepConnected = options.keepConnected ?? [];
    this.maxRedialDelayMs = options.maxRedialDelayMs ?? 30_000;
    this.acceptGossip = options.acceptGossip ?? {};
    if (options.directLinks) {
      const linkOptions = { ...DEFAULT_DIRECT_LINK_OPTIONS, ...(options.directLinks === true ? {} : options.directLinks) };
      this.directLinks = new DirectLinks(this.node, linkOptions, (failure) => this.safeDispatch('dial-failed', failure));
    }
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  /** Registers the protocols and topics, then connects to the kept peers (hubs). */
  async start(): Promise<void> {
    await cryptoReady(); // decisions carry sr25519 signatures, checked by WASM
    for (const protocol of [PAYLOAD_PROTOCOL, CHECKPOINT_PROTOCOL] as const) {
      await this.node.handle(
        protocol,
        async (stream: Stream, connection: Connection) => {
          const requester = requesterOf(connection);
          const meter: TransferMeter = { sent: 0, received: 0 };
          await serveObject(stream, requester, {
            store: this.store,
            limits: this.limits[protocol],
            maxBytes: this.maxObjectBytes[protocol],
            requestTimeoutMs: this.requestTimeoutMs,
            meter,
            ...(this.notServing !== undefined ? { notServing: this.notServing } : {}),
          });
          this.safeDispatch('transfer', { protocol, role: 'serve', peer: requester.peer, ...meter });
        },
        { maxInboundStreams: 8, maxOutboundStreams: 8 },
      );
    }
    const pubsub = this.node.services.pubsub;
    pubsub.topicValidators.set(this.topics.announce, (peer, message) =>
      this.validate(peer, message, async (data, from) => {
        const signed = decodeAnnouncementMessage(data, this.runId);
        await this.acceptGossip.announcement?.(signed, from);
        return signed;
      }),
    );
    pubsub.topicValidators.set(this.topics.decision, (peer, message) =>
      this.validate(peer, message, async (data, from) => {
        const signed = decodeDecisionMessage(data, this.runId);
        await this.acceptGossip.decision?.(signed, from);
        return signed;
      }),
    );
    pubsub.addEventListener('message', this.onGossip);
    pubsub.subscribe(this.topics.announce);
    pubsub.subscribe(this.topics.decision);
    this.node.addEventListener('peer:discovery', this.onDiscovery);
    this.node.addEventListener('connection:close', this.onConnectionClose);
    this.node.addEventListener('connection:open', this.onConnectionOpen);
    await Promise.all(this.keepConnected.map((address) => this.connectKept(address)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.directLinks?.stop();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.node.removeEventListener('peer:discovery', this.onDiscovery);
    this.node.removeEventListener('connection:close', this.onConnectionClose);
    this.node.removeEventListener('connection:open', this.onConnectionOpen);
    this.node.services.pubsub.removeEventListener('message', this.onGossip);
    await this.node.stop();
  }

  /**
   * Stops answering requests for objects until `resumeServing`: each is refused as `rateLimited`
   * with `why`, and requesters try their next source. A tab at its data cap uploads nothing more.
   */
  stopServing(why: string): void {
    this.notServing = why;
  }

  resumeServing(): void {
    this.notServing = undefined;
  }

  /** Gossips a signed announcement (this node serves its payload); returns how many peers it was sent to. */
  async announce(signed: SignedAnnouncement): Promise<number> {
    const result = await this.node.services.pubsub.publish(this.topics.announce, encodeAnnouncementMessage(signed));
    return result.recipients.length;
  }

  async publishDecision(signed: SignedDecision): Promise<number> {
    const result = await this.node.services.pubsub.publish(this.topics.decision, encodeDecisionMessage(signed));
    return result.recipients.length;
  }

  /**
   * Fetches an object by hash from `peer` and returns its verified bytes. Uses the direct link
   * when there is one. `maxBytes` (default: the protocol's maximum) is checked before allocating;
   * pass the announced size to refuse anything bigger.
   */
  async fetch(
    protocol: TransferProtocol,
    peer: PeerId | string,
    hash: string,
    options: { maxBytes?: number; signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<Uint8Array> {
    const peerId = typeof peer === 'string' ? peerIdFromString(peer) : peer;
    const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs ?? 120_000), ...(options.signal ? [options.signal] : [])]);
    const stream = await this.openStream(peerId, protocol, signal);
    const meter: TransferMeter = { sent: 0, received: 0 };
    try {
      return await fetchObject(stream, hash, {
        maxBytes: Math.min(options.maxBytes ?? Infinity, this.maxObjectBytes[protocol]),
        signal,
        meter,
      });
    } finally {
      this.safeDispatch('transfer', { protocol, role: 'fetch', peer: peerId.toString(), ...meter });
    }
  }

  /**
   * Fetches an object from the first of `sources` that serves it, trying each in order and the
   * whole list twice, a second apart (a busy hub answers "rate limited" to a burst). A source whose
   * connection drops mid-transfer, or whose bytes do not hash to `hash`, is simply the next one's
   * turn: what is returned always hashes to `hash`, so a retry can neither corrupt nor repeat
   * anything. Throws with the last error when no source served it.
   */
  async fetchFromAny(
    protocol: TransferProtocol,
    sources: string[],
    hash: string,
    options: { maxBytes?: number; timeoutMs?: number } = {},
  ): Promise<{ bytes: Uint8Array; from: string }> {
    let lastError: unknown = new Error('no source to fetch from');
    for (const pass of [0, 1]) {
      if (pass > 0) await new Promise((wake) => setTimeout(wake, 1_000));
      for (const from of sources) {
        try {
          return { bytes: await this.fetch(protocol, from, hash, options), from };
        } catch (err) {
          lastError = err;
        }
      }
    }
    throw new Error(`${hash} could not be fetched from ${sources.join(' or ')}: ${errorMessage(lastError)}`, { cause: lastError });
  }

  /** Every open connection, with whether it is a direct WebRTC link, relayed, or a WebSocket. */
  links(): PeerLink[] {
    return this.linksOf(this.node.getConnections());
  }

  private linksOf(connections: Connection[]): PeerLink[] {
    return connections.map((c) => {
      const address = c.remoteAddr.toString();
      const kind = isDirectWebRTC(c)
        ? 'webrtc'
        : !c.direct || address.includes('/p2p-circuit')
          ? 'relayed'
          : /\/wss?(\/|$)/.test(address)
            ? 'websockets'
            : 'other';
      return { peer: c.remotePeer.toString(), kind, direct: c.direct, remoteAddr: address, direction: c.direction };
    });
  }

  /** `links()`, each direct WebRTC link with its ICE path where its statistics tell it (link-path.ts). */
  async linksWithPaths(): Promise<PeerLink[]> {
    const connections = this.node.getConnections();
    const paths = await Promise.all(connections.map((c) => (isDirectWebRTC(c) ? linkPath(c) : Promise.resolve(undefined))));
    return this.linksOf(connections).map((link, i) => (paths[i] ? { ...link, path: paths[i] } : link));
  }

  /** Peers this node holds a direct WebRTC link with. */
  directPeers(): string[] {
    return [
      ...new Set(
        this.links()
          .filter((l) => l.kind === 'webrtc')
          .map((l) => l.peer),
      ),
    ];
  }

  private async openStream(peer: PeerId, protocol: TransferProtocol, signal: AbortSignal): Promise<Stream> {
    const open = this.node.getConnections(peer).filter((c) => c.status === 'open' && !c.limits);
    // The newest direct link: an older one to the same peer may be left over from a failed dial.
    const best = open.filter(isDirectWebRTC).sort((a, b) => b.timeline.open - a.timeline.open)[0] ?? open[0];
    if (best) return best.newStream(protocol, { signal });
    return this.node.dialProtocol(peer, protocol, { signal });
  }

  private async validate(
    peer: PeerId,
    message: Message,
    decode: (data: Uint8Array, from: string) => Promise<SignedAnnouncement | SignedDecision>,
  ): Promise<TopicValidatorResult> {
    try {
      if (message.type !== 'signed') throw new Error('unsigned gossip: the run requires messages signed by their libp2p peer');
      this.decoded.set(message, await decode(message.data, message.from.toString()));
      return TopicValidatorResult.Accept;
    } catch (err) {
      this.safeDispatch('invalid-message', {
        from: peer.toString(),
        topic: message.topic,
        reason: errorMessage(err),
      });
      return TopicValidatorResult.Reject;
    }
  }

  private readonly onGossip = (event: CustomEvent<Message>): void => {
    const message = event.detail;
    if (message.topic !== this.topics.announce && message.topic !== this.topics.decision) return;
    if (message.type !== 'signed') {
      this.safeDispatch('invalid-message', {
        from: 'unknown',
        topic: message.topic,
        reason: 'unsigned message: the run requires signed gossip',
      });
      return;
    }
    const decoded = this.decoded.get(message);
    if (!decoded) return; // only validated messages are delivered; this guards a changed validator map
    const from = message.from.toString();
    if (message.topic === this.topics.announce) this.safeDispatch('announcement', { from, message: decoded as SignedAnnouncement });
    else this.safeDispatch('decision', { from, message: decoded as SignedDecision });
  };

  private readonly onDiscovery = (event: CustomEvent<{ id: PeerId; multiaddrs: Multiaddr[] }>): void => {
    this.directLinks?.consider(event.detail.id, event.detail.multiaddrs);
  };

  private readonly onConnectionOpen = (event: CustomEvent<Connection>): void => {
    const connection = event.detail;
    this.directLinks?.connectionOpened(connection);
    if (!isDirectWebRTC(connection)) return;
    // A dial that timed out on the dialer can leave a connection that looks open on the
    // listener and breaks streams later: a newer direct link to the same peer replaces it.
    for (const older of this.node.getConnections(connection.remotePeer)) {
      if (older !== connection && isDirectWebRTC(older) && older.timeline.open <= connection.timeline.open) {
        older.close().catch((err: unknown) => older.abort(asError(err)));
      }
    }
  };

  private readonly onConnectionClose = (event: CustomEvent<Connection>): void => {
    if (this.stopped) return;
    const connection = event.detail;
    const peer = connection.remotePeer.toString();
    if (this.directLinks && connection.direct && connection.remoteAddr.getComponents().some((c) => c.name === 'webrtc'))
      this.directLinks.linkLost(peer);
    const kept = this.keepConnected.find((a) => a.getComponents().at(-1)?.value === peer);
    if (kept && this.node.getConnections(connection.remotePeer).length === 0) this.scheduleRedial(kept);
  };

  private async connectKept(address: Multiaddr): Promise<void> {
    try {
      await this.node.dial(address, { signal: AbortSignal.timeout(10_000) });
      this.redialAttempts.delete(address.toString());
    } catch {
      this.scheduleRedial(address);
    }
  }

  private scheduleRedial(address: Multiaddr): void {
    if (this.stopped) return;
    const key = address.toString();
    const attempt = (this.redialAttempts.get(key) ?? 0) + 1;
    this.redialAttempts.set(key, attempt);
    const delay = Math.min(this.maxRedialDelayMs, 500 * 2 ** (attempt - 1));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) void this.connectKept(address);
    }, delay);
    this.timers.add(timer);
  }

  private safeDispatch<K extends keyof SwarmEvents>(type: K, detail: SwarmEvents[K]['detail']): void {
    // A listener that throws must not break libp2p's event loop (validators, discovery).
    try {
      this.safeDispatchEvent(type, { detail });
    } catch (err) {
      console.error(`swarm: a '${type}' listener threw: ${printable(err instanceof Error && err.stack ? err.stack : errorMessage(err))}`);
    }
  }
}

/** A request's peer, and its address when the connection came straight from it (remoteAddressKey). */
function requesterOf(connection: Connection): Requester {
  return { peer: connection.remotePeer.toString(), address: remoteAddressKey(connection.remoteAddr) };
}
