// A participant's session: a session key made here from a random seed, the binding the hotkey
// signed for it (the one wallet prompt of the session) and its node's libp2p key co-signed, and
// the next announcement nonce.
import { bindingId, signBinding, type HotkeySigner, type SignedBinding } from './binding.ts';
import { ANNOUNCEMENT_KIND, signAnnouncement, type SignedAnnouncement } from './announcement.ts';
import type { Hex } from './fields.ts';
import { cryptoReady, SigningKey, type KeyType } from './keys.ts';

export interface SavedSession {
  seed: Uint8Array;
  keyType: KeyType;
  signed: SignedBinding;
}

export class Session {
  readonly key: SigningKey;
  readonly signed: SignedBinding;
  readonly id: Hex;
  #nextNonce = 0;

  private constructor(key: SigningKey, signed: SignedBinding) {
    this.key = key;
    this.signed = signed;
    this.id = bindingId(signed.binding);
  }

  /**
   * Makes a session key, pays the chain's proof of work (`workBits`, Chain.bindingRules) and asks
   * `hotkey` to sign its binding (the wallet prompts once); `peer` is the node's libp2p key
   * (peerSigningKey), which co-signs it.
   */
  static async start(
    hotkey: HotkeySigner,
    options: {
      run: string;
      peer: SigningKey;
      workBits?: number;
      keyType?: KeyType;
      expiresAt?: number;
      now?: number;
      signal?: AbortSignal;
    },
  ): Promise<Session> {
    await cryptoReady();
    const key = SigningKey.generate(options.keyType ?? 'sr25519');
    const signed = await signBinding(hotkey, { ...options, sessionKey: key });
    return new Session(key, signed);
  }

  /**
   * A session saved by `saved()` (a tab reloading): the same key and binding, announcing from
   * `nextNonce` on (the chain's Chain.nextNonce for this binding, so no nonce is reused).
   */
  static async restore(saved: SavedSession, nextNonce: number): Promise<Session> {
    await cryptoReady();
    const session = new Session(SigningKey.fromSeed(saved.seed, saved.keyType), saved.signed);
    if (session.key.publicKeyHex !== saved.signed.binding.sessionKey)
      throw new Error("this saved session's key is not the one its binding names");
    session.#nextNonce = nextNonce;
    return session;
  }

  /** What a tab keeps to restore this session after a reload (the key's seed: keep it private). */
  saved(): SavedSession {
    return { seed: this.key.seed, keyType: this.key.type, signed: this.signed };
  }

  get burner(): boolean {
    return this.signed.binding.burner;
  }

  /** Signs the announcement of this round's payload with the session key (no wallet prompt). */
  announce(fields: { round: number; baseModelHash: Hex; payloadHash: Hex; bytes: number }): SignedAnnouncement {
    const { run } = this.signed.binding;
    const signed = signAnnouncement(this.key, { kind: ANNOUNCEMENT_KIND, run, binding: this.id, nonce: this.#nextNonce, ...fields });
    this.#nextNonce++;
    return signed;
  }
}
