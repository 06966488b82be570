// A peer's status: what a tab says about itself to its hub, "session binding B is training, or
// paused because its person paused it or hid its tab, its computer is on battery, too hot or in use,
// it is at its data cap, or it is recovering a lost GPU", signed by the binding's session key so that nobody else can speak for it. It is a claim
// the hub cannot check: the wall shows it as what the peer says. Sent with POST /api/peers/status
// (docs/PROTOCOL.md, "Peer status"); `at` orders one binding's claims and refuses replays.
import { canonicalBytes } from './canonical.ts';
import { IdentityError } from './errors.ts';
import { expectHex, expectInteger, expectLiteral, expectRecord, expectString, type Hex } from './fields.ts';
import { RUN_ID_PATTERN, type VerifiedBinding } from './binding.ts';
import { verifySignature, type SigningKey } from './keys.ts';

export const PEER_STATUS_KIND = 'webloco/peer-status/v1';

/**
 * Why a tab is not training: its person paused it, its tab is hidden (pause while hidden), battery,
 * heat (critical pressure), its person is present (idle-only mode), data cap, a GPU being recovered.
 */
export const PAUSE_REASONS = ['user', 'hidden', 'battery', 'heat', 'idle', 'cap', 'gpu'] as const;
export type PauseReason = (typeof PAUSE_REASONS)[number];

export const PEER_STATES = ['training', 'paused', 'left'] as const;
export type PeerState = (typeof PEER_STATES)[number];

/** The Compute Pressure API's states, and `unknown` where the browser has none. */
export const PRESSURE_STATES = ['nominal', 'fair', 'serious', 'critical', 'unknown'] as const;
export type PressureState = (typeof PRESSURE_STATES)[number];

/** A status's canonical JSON is far below this; the hub reads no more of a request. */
export const MAX_PEER_STATUS_BYTES = 2048;

export interface PeerStatus {
  kind: typeof PEER_STATUS_KIND;
  run: string;
  /** The id of the session binding whose key signs this. */
  binding: Hex;
  /** Milliseconds since the Unix epoch when the tab said it; each claim of a binding later than the last. */
  at: number;
  state: PeerState;
  /** Why it is paused, in PAUSE_REASONS' order, each once; empty unless `state` is `paused`. */
  reasons: PauseReason[];
  /** Percent of the time its GPU may work now: its throttle, halved under serious pressure. */
  intensity: number;
  pressure: PressureState;
  /** GPU devices lost and recovered since the tab joined. */
  gpuRecoveries: number;
  /**
   * Thousandths of its wall time since it joined that its GPU trained (src/run/utilisation.ts);
   * null before its first round ends.
   */
  gpuBusy: number | null;
}

export interface SignedPeerStatus {
  status: PeerStatus;
  /** The session key's signature over the status's canonical bytes. */
  signature: Hex;
}

function expectOneOf<T extends string>(value: unknown, what: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    throw new IdentityError('malformed', `${what} must be one of ${allowed.join(', ')}, found ${JSON.stringify(value)?.slice(0, 80)}`);
  return value as T;
}

function parsePeerStatus(value: unknown): PeerStatus {
  const s = expectRecord(value, 'status', [
    'kind',
    'run',
    'binding',
    'at',
    'state',
    'reasons',
    'intensity',
    'pressure',
    'gpuRecoveries',
    'gpuBusy',
  ]);
  const state = expectOneOf(s.state, 'status.state', PEER_STATES);
  if (!Array.isArray(s.reasons) || s.reasons.length > PAUSE_REASONS.length)
    throw new IdentityError('malformed', `status.reasons must be a list of at most ${PAUSE_REASONS.length} reasons`);
  const reasons = s.reasons.map((r, i) => expectOneOf(r, `status.reasons[${i}]`, PAUSE_REASONS));
  const order = reasons.map((r) => PAUSE_REASONS.indexOf(r));
  if (order.some((o, i) => i > 0 && o <= order[i - 1]!))
    throw new IdentityError('malformed', `status.reasons must be in the order ${PAUSE_REASONS.join(', ')}, each once`);
  if ((state === 'paused') !== reasons.length > 0)
    throw new IdentityError('malformed', 'status.reasons must name why a paused peer is paused, and be empty otherwise');
  return {
    kind: expectLiteral(s.kind, 'status.kind', PEER_STATUS_KIND),
    run: expectString(s.run, 'status.run', 64, RUN_ID_PATTERN),
    binding: expectHex(s.binding, 'status.binding', 32),
    at: expectInteger(s.at, 'status.at', 0, Number.MAX_SAFE_INTEGER),
    state,
    reasons,
    intensity: expectInteger(s.intensity, 'status.intensity', 0, 100),
    pressure: expectOneOf(s.pressure, 'status.pressure', PRESSURE_STATES),
    gpuRecoveries: expectInteger(s.gpuRecoveries, 'status.gpuRecoveries', 0, 0xffffffff),
    gpuBusy: s.gpuBusy === null ? null : expectInteger(s.gpuBusy, 'status.gpuBusy', 0, 1000),
  };
}

/** Signs a status with the session key its binding names. */
export function signPeerStatus(sessionKey: SigningKey, status: PeerStatus): SignedPeerStatus {
  parsePeerStatus(status);
  return { status, signature: sessionKey.sign(canonicalBytes(status)) };
}

/**
 * Verifies an untrusted signed status: its fields, the run, that it names a registered binding
 * (`bindingOf`) unexpired at `now`, and the session key's signature. Whether `at` is new and
 * recent is the receiver's business (it knows the last one it took).
 */
export async function verifyPeerStatus(
  value: unknown,
  context: { run: string; bindingOf: (id: Hex) => Promise<VerifiedBinding | undefined>; now: number },
): Promise<{ status: PeerStatus; signer: VerifiedBinding }> {
  const signed = expectRecord(value, 'signed status', ['status', 'signature']);
  const status = parsePeerStatus(signed.status);
  const signature = expectHex(signed.signature, 'signed status.signature', 64);
  if (status.run !== context.run) throw new IdentityError('wrong-run', `this status is for run '${status.run}', not '${context.run}'`);
  const signer = await context.bindingOf(status.binding);
  if (!signer)
    throw new IdentityError(
      'unknown-binding',
      `binding ${status.binding} is not registered on the run's chain: register it before reporting`,
    );
  if (signer.binding.expiresAt <= context.now)
    throw new IdentityError('expired', `binding ${status.binding} expired at ${new Date(signer.binding.expiresAt).toISOString()}`);
  if (!verifySignature(signer.binding.sessionKeyType, canonicalBytes(status), signature, signer.sessionPublicKey))
    throw new IdentityError('bad-signature', `the status is not signed by the session key of binding ${status.binding}`);
  return { status, signer };
}
