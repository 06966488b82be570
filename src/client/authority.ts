// Which authority a tab holds the hub's run to: the one the page's link names (`#authority=5F…`,
// as the run's organisers publish it), else the one this browser saw at the hub's origin the
// first time (trust on first use, kept in the tab's IndexedDB store). A hub that later serves a
// chain sealed by another authority is refused, saying how to accept it if the change is real.
import { IdentityError } from '../identity/errors.ts';
import { expectAddress } from '../identity/fields.ts';
import type { HttpChain } from '../chain/http-chain.ts';
import type { ChainedRunInfo } from '../run/api.ts';
import { connectToRun, type AuthorityPin } from '../run/hub-client.ts';

/** Where a tab remembers the authority it first saw at each origin (TabStore). */
export interface AuthorityMemory {
  authority(origin: string): Promise<string | undefined>;
  rememberAuthority(origin: string, address: string): Promise<void>;
}

/** How a tab pins the run's authority: the link's fragment, and its memory of the origin. */
export interface PinOptions {
  /** The page's `#authority=…` (authorityFromFragment). */
  fragment?: string;
  memory?: AuthorityMemory;
}

/** The address in a page fragment's `authority=` parameter (`#authority=5F…`, `#/wall?authority=5F…`), if any. */
export function authorityFromFragment(hash: string): string | undefined {
  const query = hash.replace(/^#\/?/, '').replace(/^[^=?&]*\?/, '');
  return new URLSearchParams(query).get('authority') ?? undefined;
}

/**
 * The run of the hub at `hubUrl` and its verified chain, held to the link's authority, else to
 * the one this browser saw at the hub's origin before; a first visit remembers the authority it
 * verified. Throws WrongAuthorityError (from connectToRun) when the hub serves another chain.
 */
export async function connectPinned(hubUrl: string, o: PinOptions = {}): Promise<{ info: ChainedRunInfo; chain: HttpChain }> {
  const origin = new URL(hubUrl).origin;
  let authority: AuthorityPin | undefined;
  if (o.fragment !== undefined) {
    try {
      authority = { address: expectAddress(o.fragment, "the page's #authority"), from: "the page's link (#authority=…)" };
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      throw new Error(`${err.message}: open the link the run's organisers published, with the authority they name`, { cause: err });
    }
  } else {
    // A store that cannot be read pins nothing: the hub's word is taken, as on a first visit.
    const remembered = await o.memory?.authority(origin).catch(() => undefined);
    if (remembered !== undefined)
      authority = {
        address: remembered,
        from: `what this browser saw at ${origin} before (if the run there really changed, open the page with #authority=<the new address> to accept it)`,
      };
  }
  const connected = await connectToRun(hubUrl, authority ? { authority } : {});
  if (!authority || o.fragment !== undefined) await o.memory?.rememberAuthority(origin, connected.chain.authority).catch(() => {}); // not remembered: the next visit trusts again, no worse
  return connected;
}
