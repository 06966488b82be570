// React hook around the participant's hotkey: a wallet extension's account (through
// src/identity/wallet.ts, which loads @polkadot/extension-dapp only when asked) or a burner key.
import { errorMessage } from '../base/errors.ts';
import { useCallback, useState } from 'react';
import type { HotkeySigner } from '../identity/binding.ts';
import { createBurnerSigner } from '../identity/burner.ts';
import { connectWallet, type WalletAccount, type WalletConnection } from '../identity/wallet.ts';

export type WalletState =
  | { status: 'idle' }
  | { status: 'connecting' }
  | { status: 'connected'; connection: WalletConnection }
  | { status: 'error'; message: string };

export function useWallet() {
  const [wallet, setWallet] = useState<WalletState>({ status: 'idle' });

  /** Asks the installed extensions for their sr25519 accounts (each may prompt). */
  const connect = useCallback(async () => {
    setWallet({ status: 'connecting' });
    try {
      setWallet({ status: 'connected', connection: await connectWallet() });
    } catch (err) {
      setWallet({ status: 'error', message: errorMessage(err) });
    }
  }, []);

  const signerFor = useCallback(
    async (account: WalletAccount): Promise<HotkeySigner> => {
      if (wallet.status !== 'connected') throw new Error('connect a wallet first');
      return wallet.connection.signer(account);
    },
    [wallet],
  );

  return { wallet, connect, signerFor, burner: createBurnerSigner };
}
