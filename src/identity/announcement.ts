// Announcements: what a session key signs every round, "in run R, round w, session binding B
// committed to the payload with this blake3 hash, computed against the model with that hash",
// with a per-binding sequence number. The same signed object is gossiped to peers and submitted
// to the chain as a commit. Verification needs the binding already verified (its session key),
// and refuses other runs, rounds not being accepted, expired bindings, and replays: a
// (binding, nonce) pair is accepted once (ReplayGuard here; the chain demands the next nonce).
import { hexToU8a } from '@polkadot/util';
import { canonicalBytes } from './canonical.ts';
import { IdentityError } from './errors.ts';
import { expectHex, expectInteger, expectLiteral, expectRecord, expectString, type Hex } from './fields.ts';
import { RUN_ID_PATTERN, type VerifiedBinding } from './binding.ts';
import { verifySignature, type SigningKey } from './keys.ts';

export const ANNOUNCEMENT_KIND = 'webloco/announcement/v1';
/** Largest payload an announcement may claim: far above any preset's compressed update. */
const MAX_PAYLOAD_BYTES = 256 * 1024 * 1024;
/** Rounds and nonces are u32, as in the payload header. */
export const MAX_U32 = 0xffffffff;

export interface Announcement {
  kind: typeof ANNOUNCEMENT_KIND;
  run: string;
  round: number;
  /** The id (blake3 of the canonical bytes) of the session binding whose key signs this. */
  binding: Hex;
  /** The model hash H_w the update was computed against. */
  baseModelHash: Hex;
  /** blake3 of the payload's wire bytes. */
  payloadHash: Hex;
  /** The payload's length in bytes. */
  bytes: number;
  /** 0 for a binding's first announcement, then one more each time. */
  nonce: number;
}

export interface SignedAnnouncement {
  announcement: Announcement;
  /** The session key's signature over the announcement's canonical bytes (not wrapped). */
  signature: Hex;
}

export interface VerifiedAnnouncement extends SignedAnnouncement {
  signer: VerifiedBinding;
}

export function parseAnnouncement(value: unknown): Announcement {
  const a = expectRecord(value, 'announcement', ['kind', 'run', 'round', 'binding', 'baseModelHash', 'payloadHash', 'bytes', 'nonce']);
  return {
    kind: expectLiteral(a.kind, 'announcement.kind', ANNOUNCEMENT_KIND),
    run: expectString(a.run, 'announcement.run', 64, RUN_ID_PATTERN),
    round: expectInteger(a.round, 'announcement.round', 0, MAX_U32),
    binding: expectHex(a.binding, 'announcement.binding', 32),
    baseModelHash: expectHex(a.baseModelHash, 'announcement.baseModelHash', 32),
    payloadHash: expectHex(a.payloadHash, 'announcement.payloadHash', 32),
    bytes: expectInteger(a.bytes, 'announcement.bytes', 1, MAX_PAYLOAD_BYTES),
    nonce: expectInteger(a.nonce, 'announcement.nonce', 0, MAX_U32),
  };
}

/** Signs an announcement with the session key that `binding` names. */
export function signAnnouncement(sessionKey: SigningKey, announcement: Announcement): SignedAnnouncement {
  parseAnnouncement(announcement);
  return { announcement, signature: sessionKey.sign(canonicalBytes(announcement)) };
}

/** Remembers which (binding, nonce) pairs were accepted, per round, so a replay is refused. */
export class ReplayGuard {
  readonly #seen = new Map<number, Set<string>>();
  #oldestRound = 0;

  /** Throws IdentityError('replay') if this announcement's (binding, nonce) was accepted before. */
  check(announcement: Announcement): void {
    if (announcement.round < this.#oldestRound) {
      throw new IdentityError(
        'wrong-round',
        `round ${announcement.round} is older than every round this peer still accepts (from ${this.#oldestRound})`,
      );
    }
    for (const seen of this.#seen.values()) {
      if (seen.has(`${announcement.binding}/${announcement.nonce}`)) {
        throw new IdentityError(
          'replay',
          `announcement nonce ${announcement.nonce} of binding ${announcement.binding} was already accepted: a replay`,
        );
      }
    }
  }

  remember(announcement: Announcement): void {
    let seen = this.#seen.get(announcement.round);
    if (!seen) this.#seen.set(announcement.round, (seen = new Set()));
    seen.add(`${announcement.binding}/${announcement.nonce}`);
  }

  /** How many (binding, nonce) pairs it holds. */
  get size(): number {
    let size = 0;
    for (const seen of this.#seen.values()) size += seen.size;
    return size;
  }

  /** Drops what was kept for rounds before `round`; announcements for them are refused from now on. */
  forgetRoundsBefore(round: number): void {
    this.#oldestRound = Math.max(this.#oldestRound, round);
    for (const r of this.#seen.keys()) if (r < round) this.#seen.delete(r);
  }
}

/**
 * Verifies an untrusted signed announcement: fields, run, round (`acceptRound`), that it names a
 * binding verified earlier (`bindingOf`) which has not expired at `now`, the session key's
 * signature, and (with `replay`) that its nonce is new, which it then records.
 */
export function verifyAnnouncement(
  value: unknown,
  context: {
    run: string;
    acceptRound: (round: number) => boolean;
    bindingOf: (id: Hex) => VerifiedBinding | undefined;
    now: number;
    replay?: ReplayGuard;
  },
): VerifiedAnnouncement {
  const signed = expectRecord(value, 'signed announcement', ['announcement', 'signature']);
  const announcement = parseAnnouncement(signed.announcement);
  const signature = expectHex(signed.signature, 'signed announcement.signature', 64);
  if (announcement.run !== context.run)
    throw new IdentityError('wrong-run', `the announcement is for run '${announcement.run}', this is run '${context.run}'`);
  if (!context.acceptRound(announcement.round))
    throw new IdentityError('wrong-round', `announcements for round ${announcement.round} are not accepted now`);
  const signer = context.bindingOf(announcement.binding);
  if (!signer)
    throw new IdentityError(
      'unknown-binding',
      `the announcement's session binding ${announcement.binding} is not known here: its binding must be registered first`,
    );
  if (signer.binding.expiresAt <= context.now) {
    throw new IdentityError(
      'expired',
      `session binding ${announcement.binding} expired at ${new Date(signer.binding.expiresAt).toISOString()}`,
    );
  }
  if (!verifySignature(signer.binding.sessionKeyType, canonicalBytes(announcement), signature, hexToU8a(signer.binding.sessionKey))) {
    throw new IdentityError('bad-signature', `the announcement is not signed by the session key of binding ${announcement.binding}`);
  }
  context.replay?.check(announcement);
  context.replay?.remember(announcement);
  return { announcement, signature, signer };
}
