// Which path a direct WebRTC link took, read from its RTCPeerConnection's statistics: the
// selected ICE candidate pair, its two candidates' types (host, srflx and prflx are a direct path
// through the NATs; relay is a TURN server carrying every byte) and the bytes that pair carried.
// libp2p does not expose the peer connection; its WebRTC connection object holds it as
// `maConn.peerConnection` (@libp2p/webrtc 6, libp2p 3), read defensively: when that is not there
// the link's path is unknown and says so.
import type { Connection } from '@libp2p/interface';

export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

/** The selected candidate pair of a WebRTC link. */
export interface LinkPath {
  /** `turn` when either side's candidate is a TURN relay, else `direct`. */
  via: 'direct' | 'turn';
  local: CandidateType;
  remote: CandidateType;
  /** The TURN server this side relays through (its relay candidate's `url`), when it does. */
  turnServer?: string;
  /** Bytes this pair sent and received (everything the link carried since it was selected). */
  bytesSent: number;
  bytesReceived: number;
}

interface StatsEntry {
  type: string;
  id: string;
  selectedCandidatePairId?: string;
  localCandidateId?: string;
  remoteCandidateId?: string;
  candidateType?: CandidateType;
  url?: string;
  state?: string;
  nominated?: boolean;
  selected?: boolean;
  bytesSent?: number;
  bytesReceived?: number;
}

/** The RTCPeerConnection under a libp2p WebRTC connection, if this libp2p version keeps it where it did. */
function peerConnectionOf(connection: Connection): RTCPeerConnection | undefined {
  const pc = (connection as unknown as { maConn?: { peerConnection?: unknown } }).maConn?.peerConnection;
  return pc && typeof (pc as RTCPeerConnection).getStats === 'function' ? (pc as RTCPeerConnection) : undefined;
}

/** The path of a direct WebRTC connection, or undefined when its statistics do not say (not WebRTC, closed, no pair selected yet). */
export async function linkPath(connection: Connection): Promise<LinkPath | undefined> {
  const pc = peerConnectionOf(connection);
  if (!pc) return undefined;
  let report: RTCStatsReport;
  try {
    report = await pc.getStats();
  } catch {
    return undefined; // closed meanwhile: no path to report
  }
  const entries = new Map<string, StatsEntry>();
  report.forEach((entry: StatsEntry) => entries.set(entry.id, entry));
  const all = [...entries.values()];
  // The transport names the selected pair (Chromium); else the nominated pair that succeeded.
  const selectedId = all.find((e) => e.type === 'transport' && e.selectedCandidatePairId)?.selectedCandidatePairId;
  const pair =
    (selectedId ? entries.get(selectedId) : undefined) ??
    all.find((e) => e.type === 'candidate-pair' && (e.selected === true || (e.nominated === true && e.state === 'succeeded')));
  const local = pair?.localCandidateId ? entries.get(pair.localCandidateId) : undefined;
  const remote = pair?.remoteCandidateId ? entries.get(pair.remoteCandidateId) : undefined;
  if (!pair || !local?.candidateType || !remote?.candidateType) return undefined;
  return {
    via: local.candidateType === 'relay' || remote.candidateType === 'relay' ? 'turn' : 'direct',
    local: local.candidateType,
    remote: remote.candidateType,
    ...(local.candidateType === 'relay' && local.url ? { turnServer: local.url } : {}),
    bytesSent: pair.bytesSent ?? 0,
    bytesReceived: pair.bytesReceived ?? 0,
  };
}
