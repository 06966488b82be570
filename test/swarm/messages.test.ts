// The gossip codecs accept exactly the documented schemas and reject everything else with a
// message that names the problem; the per-peer rate limiter refills at its stated rate.
import { describe, expect, it } from 'vitest';
import { MessageError, decodeAnnouncement, decodeDecision, encodeAnnouncement, encodeDecision, type Announcement, type Decision } from '../../src/swarm/messages.ts';
import { MAX_ANNOUNCE_BYTES, MAX_DECISION_PAYLOADS } from '../../src/swarm/protocol.ts';
import { PeerRateLimiter } from '../../src/swarm/rate-limit.ts';

const H = (c: string) => c.repeat(64);
const announcement: Announcement = { v: 1, kind: 'payload', round: 3, hash: H('a'), bytes: 12345, modelHash: H('b') };
const decision: Decision = { v: 1, round: 3, modelHash: H('b'), payloads: [H('a'), H('c')], nextModelHash: H('d') };
const utf8 = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

describe('announcement codec', () => {
  it('round-trips', () => {
    expect(decodeAnnouncement(encodeAnnouncement(announcement))).toEqual(announcement);
  });

  const bad: [string, unknown, RegExp][] = [
    ['an array', [announcement], /JSON object/],
    ['an extra key', { ...announcement, extra: 1 }, /unexpected extra/],
    ['a missing key', { ...announcement, modelHash: undefined }, /missing modelHash/],
    ['another version', { ...announcement, v: 2 }, /v must be 1/],
    ['an unknown kind', { ...announcement, kind: 'gradient' }, /kind must be/],
    ['a fractional round', { ...announcement, round: 1.5 }, /round must be an integer/],
    ['a negative round', { ...announcement, round: -1 }, /round must be an integer/],
    ['an uppercase hash', { ...announcement, hash: H('A') }, /hash must be 64 lowercase hex/],
    ['a short hash', { ...announcement, hash: 'abc' }, /hash must be 64 lowercase hex/],
    ['zero bytes', { ...announcement, bytes: 0 }, /bytes must be an integer/],
    ['bytes as a string', { ...announcement, bytes: '5' }, /bytes must be an integer/],
  ];
  for (const [what, value, error] of bad) {
    it(`rejects ${what}`, () => {
      expect(() => decodeAnnouncement(utf8(value))).toThrow(error);
      expect(() => decodeAnnouncement(utf8(value))).toThrow(MessageError);
    });
  }

  it('rejects non-JSON, invalid UTF-8 and oversized messages', () => {
    expect(() => decodeAnnouncement(utf8('{"v":1,'))).toThrow(/not UTF-8 JSON/);
    expect(() => decodeAnnouncement(new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(/not UTF-8 JSON/);
    expect(() => decodeAnnouncement(new Uint8Array(MAX_ANNOUNCE_BYTES + 1))).toThrow(/exceeds the 4096-byte limit/);
  });
});

describe('decision codec', () => {
  it('round-trips', () => {
    expect(decodeDecision(encodeDecision(decision))).toEqual(decision);
  });

  it('rejects repeated, malformed or too many payload hashes', () => {
    expect(() => decodeDecision(utf8({ ...decision, payloads: [H('a'), H('a')] }))).toThrow(/must not repeat/);
    expect(() => decodeDecision(utf8({ ...decision, payloads: [H('a'), 7] }))).toThrow(/payloads\[1\] must be/);
    expect(() => decodeDecision(utf8({ ...decision, payloads: H('a') }))).toThrow(/must be an array/);
    const many = Array.from({ length: MAX_DECISION_PAYLOADS + 1 }, (_, i) => i.toString(16).padStart(64, '0'));
    expect(() => encodeDecision({ ...decision, payloads: many })).toThrow(/at most 1024|exceeds/);
  });

  it('refuses to encode an invalid message', () => {
    expect(() => encodeDecision({ ...decision, nextModelHash: 'nope' })).toThrow(/nextModelHash must be/);
  });
});

describe('PeerRateLimiter', () => {
  it('allows a burst, then refills at the stated rate, per peer', () => {
    let now = 0;
    const limiter = new PeerRateLimiter({ burst: 3, perSecond: 2 }, () => now);
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false]);
    expect(limiter.take('b')).toBe(true);
    now = 499;
    expect(limiter.take('a')).toBe(false);
    now = 501;
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('a')).toBe(false);
  });

  it('rejects a limit that would refuse everything', () => {
    expect(() => new PeerRateLimiter({ burst: 0, perSecond: 1 })).toThrow(/burst >= 1/);
  });
});
