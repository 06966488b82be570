// Connects to the participant's wallet extension (polkadot{.js}, Talisman, SubWallet: anything
// that injects into window.injectedWeb3) through @polkadot/extension-dapp. The package touches
// `window` when it is imported, so it is imported here lazily, inside connectWallet, never at
// module load: this file can be imported anywhere, including Node and workers.
import { errorMessage } from '../base/errors.ts';
import type { HotkeySigner } from './binding.ts';
import { NoWalletAccountError, NoWalletError } from './errors.ts';
import { SS58_PREFIX, type Hex } from './fields.ts';

export interface WalletAccount {
  /** SS58 address, prefix 42. */
  address: string;
  name?: string;
  /** The extension that holds it (its injectedWeb3 name, e.g. 'polkadot-js', 'talisman', 'subwallet-js'). */
  source: string;
}

export interface WalletConnection {
  /** The extensions that answered, as name/version. */
  extensions: string[];
  /** Their sr25519 accounts, addresses encoded with prefix 42. */
  accounts: WalletAccount[];
  /** A signer for one of `accounts`: each signRaw prompts the participant in the extension. */
  signer(account: WalletAccount): Promise<HotkeySigner>;
}

/**
 * Asks every injected extension for access (each may prompt), and lists their sr25519 accounts.
 * Throws NoWalletError when no extension answers and NoWalletAccountError when none shares an
 * sr25519 account; both messages offer the burner key.
 */
export async function connectWallet(appName = 'WebLoCo'): Promise<WalletConnection> {
  if (typeof window === 'undefined') throw new NoWalletError();
  // Extensions inject themselves into window.injectedWeb3 before the page has loaded. With none
  // there, say so at once: no module to fetch from the hub, nothing that can keep the person waiting.
  if (!hasInjectedExtension(window)) throw new NoWalletError();
  const dapp = await import('@polkadot/extension-dapp');
  const extensions = await dapp.web3Enable(appName);
  if (extensions.length === 0) throw new NoWalletError();
  const names = extensions.map(({ name, version }) => `${name}/${version}`);
  const injected = await dapp.web3Accounts({ accountType: ['sr25519'], ss58Format: SS58_PREFIX });
  if (injected.length === 0) throw new NoWalletAccountError(names);
  const accounts = injected.map(({ address, meta }) => ({ address, source: meta.source, ...(meta.name ? { name: meta.name } : {}) }));
  return {
    extensions: names,
    accounts,
    async signer(account: WalletAccount): Promise<HotkeySigner> {
      const extension = await dapp.web3FromSource(account.source);
      const signRaw = extension.signer.signRaw;
      if (!signRaw)
        throw new Error(
          `The wallet extension '${account.source}' cannot sign raw bytes (no signer.signRaw): use polkadot{.js}, Talisman or SubWallet, or a burner key`,
        );
      return {
        address: account.address,
        label: `${account.name ?? account.address} (${account.source})`,
        burner: false,
        async signRaw(data: Hex): Promise<Hex> {
          try {
            const { signature } = await signRaw({ address: account.address, data, type: 'bytes' });
            return signature;
          } catch (error) {
            throw new Error(
              `The wallet extension '${account.source}' did not sign the session binding (${errorMessage(error)}): ` +
                'approve the request in the extension to join, or continue with a burner key',
              { cause: error },
            );
          }
        },
      };
    },
  };
}

/** Whether any extension has injected itself (web3Enable's own test, before loading the package). */
function hasInjectedExtension(win: Window & { injectedWeb3?: Record<string, unknown> }): boolean {
  return Object.keys(win.injectedWeb3 ?? {}).length > 0;
}
