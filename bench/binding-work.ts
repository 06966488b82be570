// The registration's proof of work (src/identity/work.ts) as a session start pays it: a fresh
// binding (hotkey, libp2p key, session key) signed with `bits` of work, timed whole. The hotkey
// signs in memory, so the time is the search's (the wallet's prompt comes after it in a tab).
import { hexToU8a, u8aWrapBytes } from '@polkadot/util';
import { signBinding } from '../src/identity/binding.ts';
import type { Hex } from '../src/identity/fields.ts';
import { cryptoReady, SigningKey } from '../src/identity/keys.ts';

export interface WorkTimings {
  bits: number;
  /** Milliseconds of each signed binding, in order. */
  ms: number[];
}

export async function timeBindingWork(bits: number, trials: number): Promise<WorkTimings> {
  await cryptoReady();
  const ms: number[] = [];
  for (let i = 0; i < trials; i++) {
    const hotkey = SigningKey.generate('sr25519');
    const signer = {
      address: hotkey.address,
      label: 'bench',
      burner: true,
      signRaw: async (data: Hex) => hotkey.sign(u8aWrapBytes(hexToU8a(data))),
    };
    const started = performance.now();
    await signBinding(signer, {
      run: 'bench-work',
      peer: SigningKey.generate('ed25519'),
      sessionKey: SigningKey.generate(),
      workBits: bits,
    });
    ms.push(performance.now() - started);
  }
  return { bits, ms };
}
