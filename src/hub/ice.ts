// The ICE servers a hub hands to members in GET /api/run (`--stun`, `--turn`, `--turn-secret-file`).
// TURN credentials are never a standing password: the hub mints a fresh pair for every request
// from the secret it shares with the TURN server, in the scheme coturn calls `use-auth-secret`
// (the "TURN REST API" draft, draft-uberti-behave-turn-rest-00): username `<expiry unix
// seconds>:<id>`, credential base64(HMAC-SHA1(secret, username)). coturn recomputes the HMAC and
// refuses a username whose expiry has passed, so a credential copied out of a page dies by itself.
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { CodedError } from '../base/errors.ts';
import type { IceServer } from '../run/api.ts';

/**
 * How long a minted TURN credential is valid (s): one day, the draft's recommendation. A tab asks
 * for fresh ones before each new WebRTC link once half of that has passed; coturn refuses an
 * allocation's refresh after the expiry, so a TURN link older than this is set up again.
 */
export const TURN_CREDENTIAL_TTL_SECONDS = 86_400;

export interface IceConfig {
  /** `stun:host[:port]` URLs. */
  stun: string[];
  /** `turn:` / `turns:` URLs, all served by TURN servers that share `turnSecret`. */
  turn: string[];
  /** coturn's `static-auth-secret`. */
  turnSecret?: string;
  /** Credential lifetime (s); default TURN_CREDENTIAL_TTL_SECONDS. */
  turnTtlSeconds?: number;
}

/** A flag's value is not a STUN/TURN URL, or a TURN server has no secret to mint credentials with. */
class IceConfigError extends CodedError<'bad-ice-config'> {
  constructor(message: string) {
    super('bad-ice-config', message);
  }
}

/** coturn's REST credential for `username`: base64 of HMAC-SHA1 under the shared secret. */
export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/** A fresh TURN credential that expires `ttlSeconds` after `nowMs`; `id` names the holder in coturn's logs. */
export function mintTurnCredential(
  secret: string,
  o: { nowMs: number; ttlSeconds?: number; id?: string },
): { username: string; credential: string; expiresAt: number } {
  const expiresAt = Math.floor(o.nowMs / 1000) + (o.ttlSeconds ?? TURN_CREDENTIAL_TTL_SECONDS);
  const username = `${expiresAt}:${o.id ?? randomBytes(6).toString('hex')}`;
  return { username, credential: turnPassword(secret, username), expiresAt };
}

function checkUrls(urls: string[], schemes: RegExp, flag: string, example: string): void {
  for (const url of urls)
    if (!schemes.test(url) || /[\s,]/.test(url))
      throw new IceConfigError(`--${flag} ${JSON.stringify(url)} is not a ${flag.toUpperCase()} URL: write it as ${example}`);
}

/** Checks the flags' URLs and that TURN has its secret; throws IceConfigError saying what to write. */
export function checkIceConfig(config: IceConfig): IceConfig {
  checkUrls(config.stun, /^stuns?:[^:/?]+(:\d{1,5})?$/i, 'stun', 'stun:turn.example.org:3478');
  checkUrls(config.turn, /^turns?:[^:/?]+(:\d{1,5})?(\?transport=(udp|tcp))?$/i, 'turn', 'turn:turn.example.org:3478?transport=udp');
  if (config.turn.length > 0 && !config.turnSecret)
    throw new IceConfigError(
      "--turn needs --turn-secret-file: the file holding the TURN server's static-auth-secret (coturn's use-auth-secret), so the hub can mint short-lived credentials",
    );
  return config;
}

/** GET /api/run's `iceServers`: the STUN servers as they are, the TURN servers with a credential minted now. */
export function iceServers(config: IceConfig, nowMs = Date.now()): IceServer[] {
  const servers: IceServer[] = config.stun.length > 0 ? [{ urls: config.stun }] : [];
  if (config.turn.length > 0 && config.turnSecret) {
    const { username, credential } = mintTurnCredential(config.turnSecret, { nowMs, ttlSeconds: config.turnTtlSeconds });
    servers.push({ urls: config.turn, username, credential });
  }
  return servers;
}

/**
 * The TURN secret from its file: the first line, trimmed. Refused when empty, and when others can
 * read the file (anyone with the secret mints credentials for the TURN server).
 */
export async function readTurnSecret(path: string): Promise<string> {
  const mode = (await stat(path)).mode;
  if (mode & 0o077) throw new IceConfigError(`${path} can be read by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`);
  const secret = (await readFile(path, 'utf8')).split('\n')[0]!.trim();
  if (!secret) throw new IceConfigError(`${path} holds no secret: put coturn's static-auth-secret on its first line`);
  return secret;
}
