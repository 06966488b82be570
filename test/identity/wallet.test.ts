// The wallet connector through the real @polkadot/extension-dapp: without a window or without an
// injected extension it throws NoWalletError with the message that offers the burner key; with an
// extension injected the way polkadot{.js} injects itself (window.injectedWeb3[name].enable, a
// signer whose signRaw signs <Bytes>data</Bytes> as its RequestBytesSign does) the account comes
// back with SS58 prefix 42 and the binding it signs verifies. No browser extension can be
// installed in this test environment; the lead's browser run covers a real one.
import { beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '@polkadot/keyring';
import { u8aToHex, u8aWrapBytes } from '@polkadot/util';
import { encodeAddress, mnemonicGenerate } from '@polkadot/util-crypto';
import { signBinding, verifyBinding } from '../../src/identity/binding.ts';
import { NoWalletAccountError, NoWalletError } from '../../src/identity/errors.ts';
import { cryptoReady, SigningKey } from '../../src/identity/keys.ts';
import { connectWallet } from '../../src/identity/wallet.ts';

const NO_WALLET_MESSAGE =
  'No Polkadot/Bittensor wallet extension found: install polkadot{.js}, Talisman or SubWallet, or continue with a burner key for this demo';

type Injected = Record<string, { version: string; enable: (origin: string) => Promise<unknown> }>;

beforeAll(async () => {
  await cryptoReady();
});

describe('connectWallet', () => {
  it('outside a browser: NoWalletError with the message that offers the burner key', async () => {
    const error = await connectWallet().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoWalletError);
    expect((error as Error).message).toBe(NO_WALLET_MESSAGE);
  });

  it('a page with no extension injected, one with no sr25519 account, then one with an account that signs a verifiable binding', async () => {
    const injectedWeb3: Injected = {};
    Object.assign(globalThis, { window: { injectedWeb3, addEventListener() {} }, document: { readyState: 'complete' } });

    const none = await connectWallet('WebLoCo test').catch((e: unknown) => e);
    expect(none).toBeInstanceOf(NoWalletError);
    expect((none as Error).message).toBe(NO_WALLET_MESSAGE);

    const pair = new Keyring({ type: 'sr25519' }).addFromMnemonic(mnemonicGenerate());
    const edPair = new Keyring({ type: 'ed25519' }).addFromMnemonic(mnemonicGenerate());
    let accounts = [{ address: encodeAddress(edPair.publicKey, 0), name: 'ed only', type: 'ed25519' }];
    const prompts: string[] = [];
    injectedWeb3['polkadot-js'] = {
      version: '0.63.1',
      enable: async (origin: string) => ({
        accounts: { get: async () => accounts },
        signer: {
          signRaw: async ({ address, data, type }: { address: string; data: string; type: string }) => {
            prompts.push(`${origin} ${address} ${type}`);
            return { id: prompts.length, signature: u8aToHex(pair.sign(u8aWrapBytes(data))) };
          },
        },
      }),
    };
    const noSr = await connectWallet('WebLoCo test').catch((e: unknown) => e);
    expect(noSr).toBeInstanceOf(NoWalletAccountError);
    expect((noSr as Error).message).toMatch(/polkadot-js\/0\.63\.1 shared no sr25519 account.*burner key/);

    accounts = [...accounts, { address: encodeAddress(pair.publicKey, 0), name: 'Alice', type: 'sr25519' }];
    const connection = await connectWallet('WebLoCo test');
    expect(connection.extensions).toEqual(['polkadot-js/0.63.1']);
    expect(connection.accounts).toEqual([{ address: pair.address, name: 'Alice', source: 'polkadot-js' }]);
    expect(pair.address).toBe(encodeAddress(pair.publicKey, 42));

    const signer = await connection.signer(connection.accounts[0]!);
    expect(signer.burner).toBe(false);
    expect(signer.label).toBe('Alice (polkadot-js)');
    const signed = await signBinding(signer, {
      run: 'r1',
      peer: SigningKey.generate('ed25519'),
      sessionKey: SigningKey.generate(),
      now: 1000,
    });
    expect(prompts).toEqual([`WebLoCo test ${pair.address} bytes`]);
    expect(verifyBinding(signed, { run: 'r1', now: 1000 }).binding.hotkey).toBe(pair.address);
  });
});
