// The browser-safe verifier refuses a chain altered anywhere: a decision, a commit or a binding
// changed inside a block (its extrinsics root no longer matches), a header changed (its hash no
// longer matches), a block re-hashed but not re-signed, re-sealed by another key, re-sealed by
// the authority itself around a forged decision (the validator's signature fails on replay),
// a missing, reordered or back-dated block, and a chain from an authority other than the pinned one.
import { hexToU8a } from '@polkadot/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extrinsicsRoot, headerHash, type Block } from '../../src/chain/block.ts';
import type { DevChain } from '../../src/chain/dev-chain.ts';
import { verifyChain } from '../../src/chain/verify.ts';
import { BlockVerificationError } from '../../src/chain/block.ts';
import { canonicalBytes } from '../../src/identity/canonical.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { cryptoReady, SigningKey } from '../../src/identity/keys.ts';
import { openTestChain, populate } from './fixture.ts';

let chain: DevChain;
let remove: () => void;
let blocks: Block[];
let authority: string;

beforeAll(async () => {
  await cryptoReady();
  ({ chain, remove } = await openTestChain());
  chain.start();
  await populate(chain);
  blocks = chain.blocks(0, 1000);
  chain.close();
  authority = chain.authority.address;
}, 30_000);

afterAll(() => remove?.());

/** A deep copy of the chain with block `height` replaced by `change(copy of it)`. */
function altered(height: number, change: (block: Block) => Block | void): Block[] {
  const copy = structuredClone(blocks);
  copy[height] = change(copy[height]!) ?? copy[height]!;
  return copy;
}

function heightOf(call: string): number {
  return blocks.findIndex((b) => b.extrinsics.some((e) => (e as { call: string }).call === call));
}

function expectRefused(chainBlocks: unknown[], height: number, message: RegExp, options: { authority?: string } = {}): void {
  let error: unknown;
  try {
    verifyChain(chainBlocks, options);
  } catch (e) {
    error = e;
  }
  expect(error, `expected block ${height} to be refused`).toBeInstanceOf(BlockVerificationError);
  expect((error as BlockVerificationError).height).toBe(height);
  expect((error as Error).message).toMatch(message);
}

/** Recomputes root and hash, and signs with `key`: what a forger with that key can do. */
function reseal(block: Block, key: SigningKey): Block {
  block.author = key.address;
  block.extrinsicsRoot = extrinsicsRoot(block.extrinsics);
  block.hash = headerHash(block);
  block.signature = key.sign(hexToU8a(block.hash));
  return block;
}

describe('verifyChain', () => {
  it('accepts the untouched chain', () => {
    expect(verifyChain(blocks, { authority }).head!.hash).toBe(blocks.at(-1)!.hash);
  });

  it('refuses a decision, a commit or a binding altered inside its block', () => {
    const decisionAt = heightOf('decision');
    const commitAt = heightOf('commit');
    const registerAt = heightOf('register');
    expect(Math.min(decisionAt, commitAt, registerAt)).toBeGreaterThan(0);
    const forgedHash = `0x${'66'.repeat(32)}` as Hex;
    expectRefused(
      altered(
        decisionAt,
        (b) => void ((b.extrinsics[0] as { decision: { decision: { modelHash: Hex } } }).decision.decision.modelHash = forgedHash),
      ),
      decisionAt,
      /extrinsicsRoot/,
    );
    expectRefused(
      altered(
        commitAt,
        (b) => void ((b.extrinsics[0] as { commit: { announcement: { payloadHash: Hex } } }).commit.announcement.payloadHash = forgedHash),
      ),
      commitAt,
      /extrinsicsRoot/,
    );
    expectRefused(
      altered(registerAt, (b) => void ((b.extrinsics[0] as { binding: { binding: { burner: boolean } } }).binding.binding.burner = false)),
      registerAt,
      /extrinsicsRoot/,
    );
    expectRefused(
      altered(decisionAt, (b) => void b.extrinsics.pop()),
      decisionAt,
      /extrinsicsRoot/,
    );
  });

  it('refuses altered headers, a block re-hashed without its signature, and one re-sealed by another key', () => {
    const middle = Math.floor(blocks.length / 2);
    expectRefused(
      altered(middle, (b) => void (b.timestamp += 1)),
      middle,
      /does not hash/,
    );
    expectRefused(
      altered(middle, (b) => void (b.parentHash = blocks[middle - 2]!.hash)),
      middle,
      /does not hash/,
    );
    expectRefused(
      altered(middle, (b) => {
        b.timestamp += 1;
        b.hash = headerHash(b);
      }),
      middle,
      /signature/,
    );
    const stranger = SigningKey.generate();
    expectRefused(
      altered(middle, (b) => reseal(b, stranger)),
      middle,
      /not by the chain's authority/,
    );
    expectRefused(blocks, 0, /expected authority/, { authority: stranger.address });
  });

  it('refuses a forged decision even when the authority itself re-seals the block, and a decision signed by a non-validator', () => {
    const decisionAt = heightOf('decision');
    const authorityKey = chain.authority;
    type Signed = { decision: { decision: { modelHash: Hex; validator: string }; signature: Hex } };
    // The authority changes the model hash and seals again: the block is well formed, but the validator's signature fails.
    const forged = altered(decisionAt, (b) => {
      (b.extrinsics[0] as Signed).decision.decision.modelHash = `0x${'66'.repeat(32)}` as Hex;
      return reseal(b, authorityKey);
    });
    // Later blocks still name the original hash as their parent; verification stops at the forged block.
    expectRefused(forged, decisionAt, /extrinsic 0 is invalid \(bad-signature\).*not signed by its validator/);
    const stranger = SigningKey.generate();
    const foreign = altered(decisionAt, (b) => {
      const signed = (b.extrinsics[0] as Signed).decision;
      signed.decision.validator = stranger.address;
      signed.signature = stranger.sign(canonicalBytes(signed.decision));
      return reseal(b, authorityKey);
    });
    expectRefused(foreign, decisionAt, /not-validator/);
  });

  it('refuses a missing block, swapped blocks, a back-dated block and a chain that does not start at genesis', () => {
    const middle = Math.floor(blocks.length / 2);
    expectRefused([...blocks.slice(0, middle), ...blocks.slice(middle + 1)], middle + 1, /expected height/);
    expectRefused([...blocks.slice(0, middle), blocks[middle + 1]!, blocks[middle]!], middle + 1, /expected height/);
    expectRefused(
      altered(middle, (b) => reseal(Object.assign(b, { timestamp: blocks[middle - 1]!.timestamp }), chain.authority)),
      middle,
      /not after its parent/,
    );
    expectRefused(blocks.slice(1), 1, /genesis/);
  });
});
