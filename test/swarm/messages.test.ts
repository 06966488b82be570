// The gossip codecs carry identity's signed announcement and the chain's signed decision as
// canonical JSON: they round-trip, and anything malformed, oversized, for another run or (for a
// decision) not signed by its validator is rejected with a message that names the problem. The
// per-peer rate limiter refills at its stated rate.
import { beforeAll, describe, expect, it } from 'vitest';
import { signDecision, type SignedDecision } from '../../src/chain/extrinsics.ts';
import { signAnnouncement, type SignedAnnouncement } from '../../src/identity/announcement.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { SigningKey, cryptoReady } from '../../src/identity/keys.ts';
import {
  decodeAnnouncementMessage,
  decodeDecisionMessage,
  encodeAnnouncementMessage,
  encodeDecisionMessage,
} from '../../src/swarm/messages.ts';
import { MAX_ANNOUNCE_BYTES } from '../../src/swarm/protocol.ts';
import { RateLimiter } from '../../src/swarm/rate-limit.ts';

const RUN = 'test-messages';
const hex = (byte: string): Hex => `0x${byte.repeat(32)}`;
const utf8 = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

let announcement: SignedAnnouncement;
let decision: SignedDecision;

beforeAll(async () => {
  await cryptoReady();
  announcement = signAnnouncement(SigningKey.generate('ed25519'), {
    kind: 'webloco/announcement/v1',
    run: RUN,
    round: 3,
    binding: hex('01'),
    baseModelHash: hex('02'),
    payloadHash: hex('03'),
    bytes: 12345,
    nonce: 0,
  });
  decision = signDecision(SigningKey.generate('sr25519'), {
    run: RUN,
    round: 3,
    payloadHashes: [hex('03'), hex('04')],
    modelHash: hex('05'),
    nonce: 1,
  });
});

describe('announcement messages', () => {
  it('round-trip as canonical JSON', () => {
    const bytes = encodeAnnouncementMessage(announcement);
    expect(new TextDecoder().decode(bytes).startsWith('{"announcement":{"baseModelHash"')).toBe(true);
    expect(decodeAnnouncementMessage(bytes, RUN)).toEqual(announcement);
  });

  const bad: [string, () => unknown, RegExp][] = [
    ['an array', () => [announcement], /signed announcement/],
    ['an extra key', () => ({ ...announcement, extra: 1 }), /signed announcement/],
    ['a missing signature', () => ({ announcement: announcement.announcement }), /signed announcement/],
    ['a short signature', () => ({ ...announcement, signature: '0x1234' }), /signature must be 0x followed by 128/],
    ['another kind', () => ({ ...announcement, announcement: { ...announcement.announcement, kind: 'x' } }), /announcement.kind/],
    ['a fractional round', () => ({ ...announcement, announcement: { ...announcement.announcement, round: 1.5 } }), /announcement.round/],
    [
      'an uppercase hash',
      () => ({ ...announcement, announcement: { ...announcement.announcement, payloadHash: hex('AB') } }),
      /payloadHash must be 0x/,
    ],
    ['zero bytes', () => ({ ...announcement, announcement: { ...announcement.announcement, bytes: 0 } }), /announcement.bytes/],
    ['another run', () => ({ ...announcement, announcement: { ...announcement.announcement, run: 'other' } }), /for run 'other'/],
  ];
  for (const [what, value, error] of bad) {
    it(`rejects ${what}`, () => {
      expect(() => decodeAnnouncementMessage(utf8(value()), RUN)).toThrow(error);
    });
  }

  it('rejects non-JSON, invalid UTF-8 and oversized messages', () => {
    expect(() => decodeAnnouncementMessage(utf8('{"announcement":'), RUN)).toThrow(/not UTF-8 JSON/);
    expect(() => decodeAnnouncementMessage(new Uint8Array([0x7b, 0xff, 0x7d]), RUN)).toThrow(/not UTF-8 JSON/);
    expect(() => decodeAnnouncementMessage(new Uint8Array(MAX_ANNOUNCE_BYTES + 1), RUN)).toThrow(/exceeds the 4096-byte limit/);
  });
});

describe('decision messages', () => {
  it('round-trip, with the validator signature checked', () => {
    expect(decodeDecisionMessage(encodeDecisionMessage(decision), RUN)).toEqual(decision);
  });

  it('reject a decision altered after signing, repeated hashes, and another run', () => {
    const altered = { ...decision, decision: { ...decision.decision, modelHash: hex('06') } };
    expect(() => decodeDecisionMessage(utf8(altered), RUN)).toThrow(/not signed by its validator/);
    const repeated = { ...decision, decision: { ...decision.decision, payloadHashes: [hex('03'), hex('03')] } };
    expect(() => decodeDecisionMessage(utf8(repeated), RUN)).toThrow(/lists a hash twice/);
    expect(() => decodeDecisionMessage(encodeDecisionMessage(decision), 'other-run')).toThrow(/for run 'test-messages'/);
  });

  it('refuses to encode a decision its validator did not sign', () => {
    expect(() => encodeDecisionMessage({ ...decision, decision: { ...decision.decision, round: 4 } })).toThrow(
      /not signed by its validator/,
    );
  });
});

describe('RateLimiter', () => {
  it('allows a burst, then refills at the stated rate, per peer', () => {
    let now = 0;
    const limiter = new RateLimiter({ burst: 3, perSecond: 2 }, () => now);
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false]);
    expect(limiter.take('b')).toBe(true);
    now = 499;
    expect(limiter.take('a')).toBe(false);
    now = 501;
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('a')).toBe(false);
  });

  it('rejects a limit that would refuse everything', () => {
    expect(() => new RateLimiter({ burst: 0, perSecond: 1 })).toThrow(/burst >= 1/);
  });
});
