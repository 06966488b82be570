// A burner hotkey for demos: an sr25519 account from a fresh random mnemonic, kept only in this
// tab's memory. It signs exactly as a wallet extension's signRaw does (<Bytes>data</Bytes>), so
// everything downstream treats it like a wallet account, except that its bindings say burner:
// true and the UI labels it. It holds nothing and proves no identity beyond this session.
import { Keyring } from '@polkadot/keyring';
import { hexToU8a, u8aToHex, u8aWrapBytes } from '@polkadot/util';
import { mnemonicGenerate } from '@polkadot/util-crypto';
import type { HotkeySigner } from './binding.ts';
import { SS58_PREFIX, type Hex } from './fields.ts';
import { cryptoReady } from './keys.ts';

export const BURNER_LABEL = 'Burner key (demo only: not a wallet account, discarded when the tab closes)';

export async function createBurnerSigner(): Promise<HotkeySigner> {
  await cryptoReady();
  const pair = new Keyring({ type: 'sr25519', ss58Format: SS58_PREFIX }).addFromMnemonic(mnemonicGenerate());
  return {
    address: pair.address,
    label: BURNER_LABEL,
    burner: true,
    signRaw: async (data: Hex) => u8aToHex(pair.sign(u8aWrapBytes(hexToU8a(data)))),
  };
}
