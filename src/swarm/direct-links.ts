// Direct WebRTC links between peers. A peer learns other peers' `/p2p-circuit/webrtc` addresses
// from discovery and dials them one at a time: overlapping WebRTC dials hang about half the time
// in Chromium, and a retry leaves a stale connection behind. Of each pair only the peer with the
// smaller id dials, so no two dials race for one link. Attempts are bounded per peer and in
// total (Chrome allows about 500 RTCPeerConnections over a tab's life), with growing pauses.
import type { Connection, PeerId } from '@libp2p/interface';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { errorMessage } from '../base/errors.ts';
import type { SwarmNode } from './node-config.ts';

export interface DirectLinkOptions {
  /** Give up on a peer after this many failed or lost links. */
  maxAttemptsPerPeer: number;
  /** Never start more WebRTC dials than this over the node's life. */
  maxAttemptsTotal: number;
  dialTimeoutMs: number;
  /** Pause before retrying a peer: backoffMs · 2^(attempts − 1). */
  backoffMs: number;
}

export const DEFAULT_DIRECT_LINK_OPTIONS: DirectLinkOptions = {
  maxAttemptsPerPeer: 4,
  maxAttemptsTotal: 200,
  dialTimeoutMs: 20_000,
  backoffMs: 1_000,
};

export interface DialFailure {
  peer: string;
  address: string;
  attempt: number;
  error: string;
  willRetry: boolean;
}

function isWebRTCAddress(address: Multiaddr): boolean {
  return address.getComponents().some((c) => c.name === 'webrtc');
}

export function isDirectWebRTC(connection: Connection): boolean {
  // On the dialer remoteAddr is the dialed /p2p-circuit/webrtc address; on the listener it is
  // /webrtc/p2p/<id>. Either way the path ends in webrtc, and `direct` tells it from a relay hop.
  return connection.direct && isWebRTCAddress(connection.remoteAddr) && connection.status === 'open';
}

export class DirectLinks {
  private readonly queue: string[] = [];
  private readonly addresses = new Map<string, Multiaddr>();
  private readonly attempts = new Map<string, number>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** Peers whose relayed inbound connection (the start of their WebRTC dial to us) opened at this time. */
  private readonly inboundSetups = new Map<string, number>();
  private totalAttempts = 0;
  private draining = false;
  private stopped = false;

  constructor(
    private readonly node: SwarmNode,
    private readonly options: DirectLinkOptions,
    private readonly onFailure: (failure: DialFailure) => void,
  ) {}

  /** A peer was discovered with these addresses: queue a dial if this pair's link is ours to make. */
  consider(peer: PeerId, addresses: Multiaddr[]): void {
    const id = peer.toString();
    if (this.stopped || id === this.node.peerId.toString() || this.node.peerId.toString() > id) return;
    const webrtc = addresses.find(isWebRTCAddress);
    if (!webrtc) return;
    this.addresses.set(id, withPeerId(webrtc, id));
    if (this.hasDirectLink(id) || this.queue.includes(id) || (this.attempts.get(id) ?? 0) >= this.options.maxAttemptsPerPeer) return;
    if ((this.attempts.get(id) ?? 0) > 0) return; // a retry is already scheduled by `retryLater`
    this.enqueue(id);
  }

  /** A direct link closed while the peer is still around: dial again after a pause. */
  linkLost(peer: string): void {
    if (this.addresses.has(peer) && this.node.peerId.toString() < peer) this.retryLater(peer);
  }

  /**
   * Every new connection: a relayed inbound one is most likely a peer starting its WebRTC dial to
   * us, and our own dials wait until that link is up (or `dialTimeoutMs` passed), because two
   * WebRTC setups at once on one node are what hangs.
   */
  connectionOpened(connection: Connection): void {
    const peer = connection.remotePeer.toString();
    if (isDirectWebRTC(connection)) this.inboundSetups.delete(peer);
    else if (connection.direction === 'inbound' && connection.remoteAddr.getComponents().some((c) => c.name === 'p2p-circuit'))
      this.inboundSetups.set(peer, Date.now());
  }

  hasDirectLink(peer: string): boolean {
    return this.node.getConnections().some((c) => c.remotePeer.toString() === peer && isDirectWebRTC(c));
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
  }

  private enqueue(peer: string): void {
    if (this.queue.includes(peer)) return;
    this.queue.push(peer);
    void this.drain();
  }

  private retryLater(peer: string): void {
    const attempt = this.attempts.get(peer) ?? 0;
    if (attempt >= this.options.maxAttemptsPerPeer || this.totalAttempts >= this.options.maxAttemptsTotal) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (!this.stopped && !this.hasDirectLink(peer)) this.enqueue(peer);
      },
      this.options.backoffMs * 2 ** Math.max(0, attempt - 1),
    );
    this.timers.add(timer);
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (!this.stopped && this.queue.length > 0) {
        const peer = this.queue.shift()!;
        await this.untilNoInboundSetup();
        if (this.stopped || this.hasDirectLink(peer) || this.totalAttempts >= this.options.maxAttemptsTotal) continue;
        await this.dial(peer);
      }
    } finally {
      this.draining = false;
    }
  }

  private async untilNoInboundSetup(): Promise<void> {
    for (;;) {
      const now = Date.now();
      for (const [peer, since] of this.inboundSetups)
        if (now - since > this.options.dialTimeoutMs || this.hasDirectLink(peer)) this.inboundSetups.delete(peer);
      if (this.stopped || this.inboundSetups.size === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private async dial(peer: string): Promise<void> {
    const address = this.addresses.get(peer)!;
    const attempt = (this.attempts.get(peer) ?? 0) + 1;
    this.attempts.set(peer, attempt);
    this.totalAttempts++;
    try {
      const connection = await this.node.dial(address, { signal: AbortSignal.timeout(this.options.dialTimeoutMs) });
      if (!isDirectWebRTC(connection))
        throw new Error(
          `the dial returned a ${connection.direct ? 'direct' : 'relayed'} connection to ${connection.remoteAddr.toString()}, not a direct WebRTC link`,
        );
      this.attempts.set(peer, 0);
    } catch (err) {
      const willRetry = attempt < this.options.maxAttemptsPerPeer && this.totalAttempts < this.options.maxAttemptsTotal;
      this.onFailure({ peer, address: address.toString(), attempt, error: errorMessage(err), willRetry });
      if (willRetry) this.retryLater(peer);
    }
  }
}

function withPeerId(address: Multiaddr, peer: string): Multiaddr {
  return address.getComponents().at(-1)?.value === peer ? address : address.encapsulate(multiaddr(`/p2p/${peer}`));
}
