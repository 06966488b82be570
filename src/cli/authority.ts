// `--authority ADDRESS`, for the commands that follow a hub's run (peer, validator, audit): the
// run's authority as its organisers publish it. Pinned, a hub that serves any other chain (its
// own, a fake's) is refused; without it the hub's word is taken, and the command says so.
import { errorMessage } from '../base/errors.ts';
import { expectAddress } from '../identity/fields.ts';
import type { AuthorityPin } from '../run/hub-client.ts';
import { UsageError, type OptionSpec } from './args.ts';

export const AUTHORITY_OPTION = {
  kind: 'string',
  placeholder: 'ADDRESS',
  help: "the run's authority (SS58), as its organisers publish it: a hub serving another chain is refused (default: the hub's word)",
} satisfies OptionSpec;

/** The pin `--authority` gives, or undefined (after a warning on stderr) when it is absent. */
export function authorityPin(address: string | undefined): AuthorityPin | undefined {
  if (address === undefined) {
    console.error(
      "webloco: no --authority: the run's authority is taken on the hub's word; pass --authority ADDRESS to refuse a hub serving another chain",
    );
    return undefined;
  }
  try {
    return { address: expectAddress(address, '--authority'), from: '--authority' };
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}
