// A libp2p PeerId as a session binding names it, and the key behind it. Bindings name Ed25519
// PeerIds only (`12D3KooW…`, what libp2p makes by default in Node and the browser): their
// base58btc string is the identity multihash of the public key itself (0x00 0x24, then the
// protobuf {Type: Ed25519, Data: 32 bytes}), so a verifier reads the key out of the PeerId and
// checks the binding's peer signature with it, without any libp2p code. A libp2p Ed25519 private
// key is an ordinary Ed25519 seed: the same SigningKey signs for the PeerId here.
import { base58Decode, base58Encode } from '@polkadot/util-crypto';
import { IdentityError } from './errors.ts';
import { SigningKey } from './keys.ts';

/** Identity multihash (code 0, length 36) of the protobuf PublicKey {Type: 1 (Ed25519), Data: 32 bytes}. */
const ED25519_PEER_ID_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20);

/** The PeerId of an Ed25519 public key, base58btc (`12D3KooW…`). */
export function peerIdOf(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new RangeError(`an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  const multihash = new Uint8Array(ED25519_PEER_ID_PREFIX.length + 32);
  multihash.set(ED25519_PEER_ID_PREFIX);
  multihash.set(publicKey, ED25519_PEER_ID_PREFIX.length);
  return base58Encode(multihash);
}

/** The Ed25519 public key an Ed25519 PeerId spells; IdentityError('malformed') for any other PeerId. */
export function peerPublicKey(peerId: string): Uint8Array {
  let bytes: Uint8Array | undefined;
  try {
    bytes = base58Decode(peerId);
  } catch {
    // not base58: refused below
  }
  const prefixed = bytes?.length === ED25519_PEER_ID_PREFIX.length + 32 && ED25519_PEER_ID_PREFIX.every((b, i) => bytes[i] === b);
  if (!bytes || !prefixed || base58Encode(bytes) !== peerId)
    throw new IdentityError('malformed', `binding.peerId ${peerId.slice(0, 80)} is not an Ed25519 libp2p PeerId (12D3KooW…)`);
  return bytes.slice(ED25519_PEER_ID_PREFIX.length);
}

/**
 * The signing key of a libp2p Ed25519 private key (`@libp2p/crypto`'s `raw`: the 32-byte seed, then
 * the public key), so that a session can sign its binding with the key its node's PeerId names.
 */
export function peerSigningKey(privateKey: { type: string; raw: Uint8Array }): SigningKey {
  if (privateKey.type !== 'Ed25519') throw new RangeError(`bindings name Ed25519 PeerIds; this libp2p key is ${privateKey.type}`);
  return SigningKey.fromSeed(privateKey.raw.subarray(0, 32), 'ed25519');
}
