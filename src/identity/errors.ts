// Errors from reading identity objects (bindings, announcements, wallets). Each carries a code a
// program can branch on and a message that says what was wrong and what to do.
import { CodedError } from '../base/errors.ts';

export type IdentityErrorCode =
  | 'malformed' // a field is missing, has the wrong type or format, or an unknown field is present
  | 'bad-address' // not an SS58 address with prefix 42 (Bittensor / generic Substrate)
  | 'bad-signature' // the signature does not verify against the stated key
  | 'wrong-run' // signed for another training run
  | 'wrong-round' // signed for a round that is not being accepted now
  | 'expired' // the session binding's expiry has passed
  | 'unknown-binding' // an announcement names a binding that was never verified here
  | 'replay' // this (binding, nonce) was seen before
  | 'oversized'; // larger than the protocol allows

export class IdentityError extends CodedError<IdentityErrorCode> {}

/** No wallet extension answered web3Enable: say which to install, and offer the burner key. */
export class NoWalletError extends CodedError<'no-wallet'> {
  constructor() {
    super(
      'no-wallet',

      'No Polkadot/Bittensor wallet extension found: install polkadot{.js}, Talisman or SubWallet, ' +
        'or continue with a burner key for this demo',
    );
  }
}

/** An extension answered but shares no sr25519 account with this page. */
export class NoWalletAccountError extends CodedError<'no-wallet-account'> {
  constructor(extensions: string[]) {
    super(
      'no-wallet-account',

      `The wallet extension${extensions.length === 1 ? '' : 's'} ${extensions.join(', ')} shared no sr25519 account with this page: ` +
        'create or import an sr25519 account (the kind Bittensor hotkeys use) and allow this site to see it, ' +
        'or continue with a burner key for this demo',
    );
  }
}
