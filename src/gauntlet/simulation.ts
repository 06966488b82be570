// The Gauntlet as the simulator's judge (engine/simulate.ts's RoundJudge): one Validator on the
// simulation's GPU runtime decides every round, by the same rules as a hub's (a peer's payloads
// count only once an evaluation admitted it). It also plays the part of the swarm's identity
// layer, with real keys: each simulated peer gets a burner hotkey, a libp2p (Ed25519) key, a
// session key and a signed session binding, and each submission is announced
// (identity/announcement.ts) by its sender's session key under the binding of the hotkey it
// names. An honest announcement verifies; a `forged` peer's names another peer's binding, so its
// signature fails verification exactly as it would on the network, and the validator rejects the
// payload as 'forged'.
import { bytesToHex } from '../base/hex.ts';
import type { GlobalModel } from '../engine/global-model.ts';
import type { RoundJudge, SimulatedSubmission } from '../engine/simulate.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import type { LlamaConfig } from '../model/config.ts';
import { signBinding, verifyBinding, type VerifiedBinding } from '../identity/binding.ts';
import { ANNOUNCEMENT_KIND, signAnnouncement, verifyAnnouncement } from '../identity/announcement.ts';
import { createBurnerSigner } from '../identity/burner.ts';
import type { Hex } from '../identity/fields.ts';
import { SigningKey, cryptoReady } from '../identity/keys.ts';
import type { GauntletConfig } from './config.ts';
import type { DecisionRecord, Submission } from './round.ts';
import { Validator, type JudgedRound } from './validator.ts';

interface SimulatedIdentity {
  session: SigningKey;
  binding: VerifiedBinding;
  nonce: number;
}

export interface GauntletJudgeOptions {
  runId: string;
  config: LlamaConfig;
  trainTokens: Uint16Array;
  seqLen: number;
  outerLr?: number;
  gauntlet?: Partial<GauntletConfig>;
  /** The validator's secret (evaluation seeds derive from it). */
  secret?: string;
  /** Called after each round with the standings before it, what it was given, and its record. */
  onRound?: (judged: JudgedRound) => void;
}

export class GauntletJudge implements RoundJudge {
  readonly records: DecisionRecord[] = [];
  private readonly identities = new Map<string, SimulatedIdentity>();
  private readonly bindings = new Map<Hex, VerifiedBinding>();

  private constructor(
    readonly validator: Validator,
    private readonly options: GauntletJudgeOptions,
  ) {}

  static async create(rt: GpuRuntime, options: GauntletJudgeOptions): Promise<GauntletJudge> {
    await cryptoReady();
    const validator = await Validator.create(rt, { ...options, secret: options.secret ?? 'simulation' });
    return new GauntletJudge(validator, options);
  }

  private async identity(hotkey: string): Promise<SimulatedIdentity> {
    let id = this.identities.get(hotkey);
    if (!id) {
      const session = SigningKey.generate('ed25519');
      const now = Date.now();
      const signed = await signBinding(await createBurnerSigner(), {
        run: this.options.runId,
        peer: SigningKey.generate('ed25519'), // no node exists; the binding still names (and proves) a PeerId
        sessionKey: session,
        now,
      });
      const binding = verifyBinding(signed, { run: this.options.runId, now });
      this.bindings.set(binding.id, binding);
      id = { session, binding, nonce: 0 };
      this.identities.set(hotkey, id);
    }
    return id;
  }

  async decide(
    round: number,
    base: GlobalModel,
    submissions: readonly SimulatedSubmission[],
  ): Promise<{ payloadHashes: readonly string[]; nextModelHash: string }> {
    const judged: Submission[] = [];
    for (const s of submissions) {
      const sender = await this.identity(s.sender);
      const named = await this.identity(s.hotkey);
      // The sender's session key signs an announcement naming the binding of the hotkey it claims.
      const announced = signAnnouncement(sender.session, {
        kind: ANNOUNCEMENT_KIND,
        run: this.options.runId,
        round,
        binding: named.binding.id,
        baseModelHash: `0x${bytesToHex(base.hash)}`,
        payloadHash: `0x${s.payloadHash}`,
        bytes: s.payload.length,
        nonce: sender.nonce++,
      });
      const verify = () => {
        try {
          verifyAnnouncement(announced, {
            run: this.options.runId,
            acceptRound: (r) => r === round,
            bindingOf: (id) => this.bindings.get(id),
            now: Date.now(),
          });
          return null;
        } catch (err) {
          return (err as Error).message;
        }
      };
      judged.push({ hotkey: s.hotkey, payload: s.payload, verify });
    }
    const judgedRound = await this.validator.judge({ round, base, submissions: judged });
    const { record } = judgedRound;
    this.records.push(record);
    this.options.onRound?.(judgedRound);
    return { payloadHashes: record.payloadHashes, nextModelHash: record.nextModelHash };
  }

  ranking(): string[] {
    return this.validator.ranking().map((s) => s.hotkey);
  }

  destroy(): void {
    this.validator.destroy();
  }
}
