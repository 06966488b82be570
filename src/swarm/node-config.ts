// What every WebLoCo libp2p node shares, whatever it runs in: encryption, muxing, identify,
// gossipsub limited to the run's topics, and peer discovery on the run's discovery topic.
// The per-environment factories (node-peer.ts, browser-peer.ts, and the hub) add transports.
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { identify, identifyPush, type Identify, type IdentifyPush } from '@libp2p/identify';
import type { ConnectionGater, PrivateKey } from '@libp2p/interface';
import { pubsubPeerDiscovery } from '@libp2p/pubsub-peer-discovery';
import type { Libp2p } from 'libp2p';
import { MAX_GOSSIP_DATA_BYTES, announceTopic, decisionTopic, discoveryTopic } from './protocol.ts';

// A type, not an interface: libp2p's ServiceMap needs an index-compatible shape.
export type SwarmServices = {
  identify: Identify;
  identifyPush: IdentifyPush;
  pubsub: GossipSub;
};

export type SwarmNode = Libp2p<SwarmServices>;

export interface CommonNodeOptions {
  runId: string;
  /** The node's identity; a fresh Ed25519 key when absent. */
  privateKey?: PrivateKey;
  /**
   * Allow dialing loopback and private addresses and plain ws:// (browsers refuse these by
   * default): a local swarm, a LAN demo, the tests.
   */
  dialPrivateAddresses?: boolean;
  /** How often a node republishes its addresses on the discovery topic (ms). */
  discoveryIntervalMs?: number;
}

export function commonNodeOptions(options: CommonNodeOptions) {
  const topics = [announceTopic(options.runId), decisionTopic(options.runId), discoveryTopic(options.runId)];
  const gater: ConnectionGater = options.dialPrivateAddresses ? { denyDialMultiaddr: () => false } : {};
  return {
    privateKey: options.privateKey,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: gater,
    peerDiscovery: [pubsubPeerDiscovery({ interval: options.discoveryIntervalMs ?? 10_000, topics: [discoveryTopic(options.runId)] })],
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        // Our messages are small; anything bigger is dropped while decoding, before validation.
        maxInboundDataLength: MAX_GOSSIP_DATA_BYTES,
        allowedTopics: topics,
        // Relayed links only exist to set up direct ones; gossip stays on direct connections.
        runOnLimitedConnection: false,
        // Many volunteers share an address (tabs behind one home NAT, a whole local swarm on one
        // machine): gossipsub's same-IP penalty would make a hub ignore their announcements once
        // about a dozen share one (measured with bench:swarm). Contributions are judged by the
        // Gauntlet, not by where they come from.
        scoreParams: { IPColocationFactorWeight: 0 },
      }),
    },
  };
}
