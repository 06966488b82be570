// The peer engine on Dawn: a warmed-up round compiles nothing, a peer frees all it allocates, the
// null-round rule holds on the GPU path, a decision that does not fit the peer's θ is refused
// without touching it, and two peers fed the same decision land on the same model hash.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureShards } from '../../src/data/node.ts';
import { DecisionError, initialModel } from '../../src/engine/global-model.ts';
import { Peer, type PeerData, type PeerOptions } from '../../src/engine/peer.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { trackBuffers } from '../helpers/gpu-memory.ts';
import { pipelinesCompiledDuring } from '../helpers/pipelines.ts';

let data: PeerData;
beforeAll(async () => {
  const shards = await ensureShards('bytes');
  data = { train: shards.train.tokens, heldOut: shards.heldout.tokens };
}, 300_000);

const options = (o: Partial<PeerOptions> = {}): PeerOptions => ({
  config: preset('tiny'),
  identity: { runId: 'peer-test', hotkey: 'peer-0' },
  batch: 2,
  seqLen: 16,
  innerSteps: 2,
  rounds: 4,
  nullRounds: 0,
  evalBatches: 1,
  ...o,
});

describe('Peer', () => {
  it('runs a whole round (train, compress, encode, decode, outer step, evaluate) without compiling a pipeline', async () => {
    const rt = await testRuntime();
    const peer = await Peer.create(rt, options(), data);
    try {
      const compiled = await pipelinesCompiledDuring(rt, async () => {
        const { contribution } = await peer.contribute(0);
        expect(contribution).not.toBeNull();
        peer.applyDecision(0, [contribution!.payload]);
        await peer.evaluate();
      });
      expect(compiled.programs).toEqual([]);
      expect(compiled.count).toBe(0);
    } finally {
      peer.destroy();
    }
  }, 300_000);

  it('frees every GPU buffer it allocates: creating and destroying peers does not grow GPU memory', async () => {
    const rt = await testRuntime();
    const ledger = trackBuffers(rt);
    try {
      const cycle = async () => {
        const peer = await Peer.create(rt, options(), data);
        await peer.contribute(0);
        peer.destroy();
        await rt.sync();
        return ledger.liveBytes;
      };
      // The first cycle may leave buffers in the runtime's pool, reused by every later cycle.
      const afterFirst = await cycle();
      const afterSecond = await cycle();
      const afterThird = await cycle();
      expect(afterSecond).toBe(afterFirst);
      expect(afterThird).toBe(afterFirst);
    } finally {
      ledger.stop();
    }
  }, 300_000);

  it('sends nothing in its null rounds after joining, then a payload against θ_w', async () => {
    const rt = await testRuntime();
    const peer = await Peer.create(rt, options({ joinedRound: 1, nullRounds: 1 }), data);
    try {
      const before = peer.modelHash;
      const nulled = await peer.contribute(1);
      expect(nulled.cancelled).toBe(false);
      expect(nulled.losses).toHaveLength(2);
      expect(nulled.contribution).toBeNull();
      expect(peer.applyDecision(1, [])).toBe(before); // an empty decision leaves θ as it is
      const sent = await peer.contribute(2);
      expect(sent.contribution!.payload.length).toBeGreaterThan(0);
      expect(peer.applyDecision(2, [sent.contribution!.payload])).not.toBe(before);
    } finally {
      peer.destroy();
    }
  }, 300_000);

  it('two peers applying the same decision reach the same θ; a payload for another θ is refused and changes nothing', async () => {
    const rt = await testRuntime();
    const start = initialModel(parameterLayout(preset('tiny'), rt.limits), 3);
    const a = await Peer.create(rt, options({ identity: { runId: 'peer-test', hotkey: 'a' } }), data, {
      theta: start.theta.slice(),
      hash: start.hash,
    });
    const b = await Peer.create(rt, options({ identity: { runId: 'peer-test', hotkey: 'b' } }), data, {
      theta: start.theta.slice(),
      hash: start.hash,
    });
    try {
      const fromA = (await a.contribute(0)).contribution!;
      const fromB = (await b.contribute(0)).contribution!;
      expect(fromA.payloadHash).not.toBe(fromB.payloadHash); // different samples, different updates
      const decision = [fromA.payload, fromB.payload];
      expect(a.applyDecision(0, decision)).toBe(b.applyDecision(0, decision));

      // Round 1 payloads name θ_1; b is still at θ_1 too, so the stale round-0 payload is refused.
      const hash = b.modelHash;
      expect(() => b.applyDecision(1, [fromA.payload])).toThrow(DecisionError);
      expect(b.modelHash).toBe(hash);
    } finally {
      a.destroy();
      b.destroy();
    }
  }, 300_000);

  it('a peer rebuilt from saved error feedback and optimizer state sends exactly what the original would have', async () => {
    const rt = await testRuntime();
    const start = initialModel(parameterLayout(preset('tiny'), rt.limits), 5);
    const make = () => Peer.create(rt, options(), data, { theta: start.theta.slice(), hash: start.hash });
    const original = await make();
    const rebuilt = await make();
    const forgetful = await make();
    try {
      const first = (await original.contribute(0)).contribution!;
      const e = await original.errorFeedbackState();
      expect(e.some((v) => v !== 0)).toBe(true);
      for (const peer of [original, rebuilt, forgetful]) peer.applyDecision(0, [first.payload]);
      const optimizer = await original.optimizer.getState();
      rebuilt.optimizer.setState(optimizer);
      forgetful.optimizer.setState(optimizer);
      rebuilt.setErrorFeedbackState(e);
      expect(await rebuilt.errorFeedbackState()).toEqual(e);

      const next = (await original.contribute(1)).contribution!;
      expect((await rebuilt.contribute(1)).contribution!.payloadHash).toBe(next.payloadHash);
      // Without the saved error feedback the same round sends something else.
      expect((await forgetful.contribute(1)).contribution!.payloadHash).not.toBe(next.payloadHash);
      expect(() => rebuilt.setErrorFeedbackState(new Float32Array(3))).toThrow(/saved state holds 3 values/);
    } finally {
      for (const peer of [original, rebuilt, forgetful]) peer.destroy();
    }
  }, 300_000);

  it('an update the wire format refuses is not sent: the round is skipped with a reason and the error feedback starts over', async () => {
    const rt = await testRuntime();
    // Adam moves each weight by about lr a step, so lr = 5000 makes pseudo-gradients far past ±1e3.
    const peer = await Peer.create(rt, options({ schedule: { lr: 5000, warmup: 0 } }), data);
    try {
      const result = await peer.contribute(0);
      expect(result.contribution).toBeNull();
      expect(result.skipped).toMatch(/cannot be sent .*(value-too-large|bad-quantization)/);
    } finally {
      peer.destroy();
    }
  }, 300_000);
});
