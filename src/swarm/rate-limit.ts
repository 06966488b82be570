// Per-peer token buckets: each remote peer may make `burst` requests at once and `perSecond`
// more every second after that. Buckets of peers that stayed idle long enough to refill are
// forgotten, so the map cannot grow without bound.

export interface RateLimit {
  burst: number;
  perSecond: number;
}

export class PeerRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(limit.burst >= 1 && limit.perSecond > 0))
      throw new Error(`rate limit needs burst >= 1 and perSecond > 0, got ${JSON.stringify(limit)}`);
  }

  /** Takes one token for `peer`; false when the peer has none left (the request is refused). */
  take(peer: string): boolean {
    const now = this.now();
    const bucket = this.buckets.get(peer) ?? { tokens: this.limit.burst, at: now };
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.set(peer, bucket);
    if (this.buckets.size > 4096) this.forgetRefilled(now);
    return allowed;
  }

  private forgetRefilled(now: number): void {
    const refillMs = (this.limit.burst / this.limit.perSecond) * 1000;
    for (const [peer, bucket] of this.buckets) if (now - bucket.at >= refillMs) this.buckets.delete(peer);
  }
}
