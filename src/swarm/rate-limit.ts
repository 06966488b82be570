// Token buckets by key (a peer id, an IP address): each key may make `burst` requests at once and
// `perSecond` more every second after that. Buckets that stayed idle long enough to refill are
// forgotten, so the map cannot grow without bound. The transfer protocols limit each remote peer
// and each remote address with them, the hub's HTTP server each address. No Node imports: tabs
// serve objects too.

export interface RateLimit {
  burst: number;
  perSecond: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(limit.burst >= 1 && limit.perSecond > 0))
      throw new Error(`rate limit needs burst >= 1 and perSecond > 0, got ${JSON.stringify(limit)}`);
  }

  /** Takes one token for `key`; false when it has none left (the request is refused). */
  take(key: string): boolean {
    const now = this.now();
    const bucket = this.refilled(key, now);
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.set(key, bucket);
    if (this.buckets.size > 4096) this.forgetRefilled(now);
    return allowed;
  }

  /** Milliseconds until `key` has a token again (0 when it has one now). */
  retryAfterMs(key: string): number {
    const bucket = this.refilled(key, this.now());
    return bucket.tokens >= 1 ? 0 : ((1 - bucket.tokens) / this.limit.perSecond) * 1000;
  }

  private refilled(key: string, now: number): { tokens: number; at: number } {
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond);
    bucket.at = now;
    return bucket;
  }

  private forgetRefilled(now: number): void {
    const refillMs = (this.limit.burst / this.limit.perSecond) * 1000;
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= refillMs) this.buckets.delete(key);
  }
}

/**
 * The key an IP address is limited under: IPv4 as written (an IPv4-mapped IPv6 address as its
 * IPv4 form), IPv6 by its /64 prefix, the block one subscriber gets (limiting single IPv6
 * addresses would hand every attacker 2^64 budgets); undefined for anything else.
 */
export function addressKey(ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1];
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return ip;
  const bare = ip.toLowerCase().split('%')[0]!; // a zone (fe80::1%eth0) names no other host
  if (!/^[0-9a-f:.]+$/.test(bare) || !bare.includes(':')) return undefined;
  // A dotted IPv4 tail (64:ff9b::1.2.3.4) fills two of the eight 16-bit groups.
  const groupsOf = (part: string) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const [head = '', tail = ''] = bare.split('::');
  const left = groupsOf(head);
  const groups = bare.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - groupsOf(tail).length)).fill('0')] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * The address key of a connection's remote multiaddr when it came straight from that IP; undefined
 * for a relayed connection (its address is the relay's) and a WebRTC link (it names no IP).
 */
export function remoteAddressKey(remoteAddr: { getComponents(): { name: string; value?: string }[] }): string | undefined {
  const components = remoteAddr.getComponents();
  if (components.some((c) => c.name === 'p2p-circuit' || c.name === 'webrtc')) return undefined;
  const first = components[0];
  return first?.name === 'ip4' || first?.name === 'ip6' ? addressKey(first.value) : undefined;
}
