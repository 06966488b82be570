// Blocks: a header {height, parentHash, timestamp, extrinsicsRoot, author}, its blake3 hash, the
// authority's sr25519 signature of that hash, and the extrinsics. Browser-safe: the dev chain
// seals blocks with it and every verifier checks them with it.
import { prefixedHex } from '../base/hex.ts';
import { CodedError } from '../base/errors.ts';
import { hexToU8a } from '@polkadot/util';
import { decodeAddress } from '@polkadot/util-crypto';
import { canonicalHash } from '../identity/canonical.ts';
import { expectAddress, expectHex, expectInteger, expectRecord, type Hex } from '../identity/fields.ts';
import { verifySignature, type SigningKey } from '../identity/keys.ts';
import { IdentityError } from '../identity/errors.ts';

const ZERO_HASH: Hex = prefixedHex(new Uint8Array(32));

export interface BlockHeader {
  height: number;
  /** The previous block's hash; ZERO_HASH for the genesis block (height 0). */
  parentHash: Hex;
  /** Milliseconds since the Unix epoch; strictly above the parent's. */
  timestamp: number;
  /** blake3 of the canonical JSON of the extrinsics list. */
  extrinsicsRoot: Hex;
  /** The authority that sealed it: SS58, prefix 42. */
  author: string;
}

export interface Block extends BlockHeader {
  /** blake3 of the header's canonical JSON. */
  hash: Hex;
  /** The author's sr25519 signature over the 32 bytes of `hash`. */
  signature: Hex;
  /** As submitted (each one checked when it was applied); the genesis block holds the genesis spec. */
  extrinsics: unknown[];
}

export function extrinsicsRoot(extrinsics: readonly unknown[]): Hex {
  return canonicalHash(extrinsics);
}

export function headerHash(header: BlockHeader): Hex {
  const { height, parentHash, timestamp, extrinsicsRoot: root, author } = header;
  return canonicalHash({ height, parentHash, timestamp, extrinsicsRoot: root, author });
}

/** Builds and signs a block on top of `parent` (undefined for genesis). */
export function sealBlock(
  authority: SigningKey,
  parent: (BlockHeader & { hash: Hex }) | undefined,
  timestamp: number,
  extrinsics: unknown[],
): Block {
  const header: BlockHeader = {
    height: parent ? parent.height + 1 : 0,
    parentHash: parent ? parent.hash : ZERO_HASH,
    timestamp,
    extrinsicsRoot: extrinsicsRoot(extrinsics),
    author: authority.address,
  };
  const hash = headerHash(header);
  return { ...header, hash, signature: authority.sign(hexToU8a(hash)), extrinsics };
}

/** Checks an untrusted block's fields, its hash, extrinsics root and author signature (not its place in a chain). */
export function verifyBlockSeal(value: unknown): Block {
  try {
    return checkSeal(value);
  } catch (error) {
    if (error instanceof IdentityError) {
      const height = (value as { height?: unknown } | null)?.height;
      throw new BlockVerificationError(typeof height === 'number' ? height : -1, `block ${String(height)}: ${error.message}`);
    }
    throw error;
  }
}

function checkSeal(value: unknown): Block {
  {
    const b = expectRecord(value, 'block', [
      'height',
      'parentHash',
      'timestamp',
      'extrinsicsRoot',
      'author',
      'hash',
      'signature',
      'extrinsics',
    ]);
    if (!Array.isArray(b.extrinsics)) throw new BlockVerificationError(-1, 'block.extrinsics must be a list');
    const block: Block = {
      height: expectInteger(b.height, 'block.height', 0, Number.MAX_SAFE_INTEGER),
      parentHash: expectHex(b.parentHash, 'block.parentHash', 32),
      timestamp: expectInteger(b.timestamp, 'block.timestamp', 0, Number.MAX_SAFE_INTEGER),
      extrinsicsRoot: expectHex(b.extrinsicsRoot, 'block.extrinsicsRoot', 32),
      author: expectAddress(b.author, 'block.author'),
      hash: expectHex(b.hash, 'block.hash', 32),
      signature: expectHex(b.signature, 'block.signature', 64),
      extrinsics: b.extrinsics,
    };
    const where = `block ${block.height}`;
    if (extrinsicsRoot(block.extrinsics) !== block.extrinsicsRoot)
      throw new BlockVerificationError(block.height, `${where}: its extrinsics do not match its extrinsicsRoot (altered?)`);
    if (headerHash(block) !== block.hash)
      throw new BlockVerificationError(block.height, `${where}: its header does not hash to ${block.hash} (altered?)`);
    if (!verifySignature('sr25519', hexToU8a(block.hash), block.signature, decodeAddress(block.author))) {
      throw new BlockVerificationError(block.height, `${where}: the signature is not ${block.author}'s signature of the block hash`);
    }
    return block;
  }
}

/** A block that is not a valid continuation of the chain being verified. */
export class BlockVerificationError extends CodedError<'bad-block'> {
  readonly height: number;
  constructor(height: number, message: string) {
    super('bad-block', message);
    this.height = height;
  }
}
