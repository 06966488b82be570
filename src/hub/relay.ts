// The hub's circuit relay (v2), bounded: it exists so that browsers can set up direct WebRTC links
// with each other, not to carry their traffic. Every relayed connection gets libp2p's default
// limit (128 KiB and 2 minutes, enough for WebRTC signalling; the stream is reset past either),
// and one address (an IPv6 /64) holds at most `maxReservationsPerAddress` reservations at once.
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2';
import type { Connection, ConnectionGater, PeerId } from '@libp2p/interface';
import { remoteAddressKey } from '../swarm/rate-limit.ts';

export interface RelayLimits {
  /** Reservations held at once, in all (default 1024). */
  maxReservations?: number;
  /** Reservations held at once by the peers of one address (default 32: a household, a local swarm). */
  maxReservationsPerAddress?: number;
}

/** The relay service for the hub's libp2p node. */
export function boundedRelay(limits: RelayLimits) {
  return circuitRelayServer({ reservations: { maxReservations: limits.maxReservations ?? 1024, applyDefaultLimit: true } });
}

/**
 * The connection gater's reservation check: refuses a new reservation to a peer whose address
 * already holds the maximum (a peer renewing its own reservation is not counted against itself).
 * `node` is read when a reservation is asked for, after the node exists.
 */
export function reservationsPerAddress(
  limits: RelayLimits,
  node: () => { services: { relay: CircuitRelayService }; getConnections(peer: PeerId): Connection[] },
): Pick<ConnectionGater, 'denyInboundRelayReservation'> {
  const max = limits.maxReservationsPerAddress ?? 32;
  return {
    denyInboundRelayReservation(peer) {
      const address = node()
        .getConnections(peer)
        .map((c) => remoteAddressKey(c.remoteAddr))
        .find((a) => a !== undefined);
      if (address === undefined) return false; // no direct connection: the relay refuses that itself
      let held = 0;
      for (const [holder, reservation] of node().services.relay.reservations)
        if (!holder.equals(peer) && remoteAddressKey(reservation.addr) === address) held++;
      return held >= max;
    },
  };
}
