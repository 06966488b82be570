// Swarm rounds in one process, on loopback: a hub (its dev chain and round keeper) and Node
// participants, each with its own libp2p node, session, chain client and engine peer (sharing one
// GPU runtime). Their payloads make every decision and they all reach the model hash the
// decision names; when one leaves the rounds go on without it; a member that joins late loads the
// checkpoint, replays the decisions since and holds the current model.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpChain } from '../../src/chain/http-chain.ts';
import { Participant, type CheckpointRef, type ParticipantRound, type RoundBackend } from '../../src/client/participant.ts';
import { ensureShards } from '../../src/data/node.ts';
import { Peer } from '../../src/engine/peer.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import { Session } from '../../src/identity/session.ts';
import { preset } from '../../src/model/config.ts';
import { MemoryContentStore, toContentHash } from '../../src/swarm/content.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { Swarm } from '../../src/swarm/swarm.ts';
import { decodeCheckpoint } from '../../src/train/checkpoint.ts';
import { testRuntime } from '../helpers/gpu.ts';

// 5 s rounds: a member trains 2 steps of 2×16 tokens and commits well inside one, even on a busy software GPU.
const RUN = { innerSteps: 2, batch: 2, seqLen: 16, blocksPerRound: 20, blockTimeMs: 250, checkpointEvery: 1 };

let rt: GpuRuntime;
let hub: Hub;
let data: { train: Uint16Array; heldOut: Uint16Array };

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-${name}-`));
}

interface Member {
  participant: Participant;
  swarm: Swarm;
  peer: Peer;
  reports: ParticipantRound[];
  stop(): Promise<void>;
}

async function checkpointOf(h: Hub): Promise<CheckpointRef> {
  return ((await (await fetch(`${h.http}/api/run`)).json()) as { checkpoint: CheckpointRef }).checkpoint;
}

/** A participant as `webloco peer` builds one, on the shared runtime. */
async function member(): Promise<Member> {
  const info = (await (await fetch(`${hub.http}/api/run`)).json()) as { runId: string; round: number; hub: { peerId: string; multiaddrs: string[] } };
  const node = await createNodePeer({ runId: info.runId, webrtc: false, dialPrivateAddresses: true, discoveryIntervalMs: 500 });
  const swarm = new Swarm({ node, runId: info.runId, store: new MemoryContentStore(), keepConnected: info.hub.multiaddrs.map((a) => multiaddr(a)) });
  await swarm.start();
  const chain = await HttpChain.connect(hub.http);
  const session = await Session.start(await createBurnerSigner(), { run: info.runId, peerId: swarm.peerId });
  const peer = await Peer.create(
    rt,
    { config: preset('tiny'), identity: { runId: info.runId, hotkey: session.signed.binding.hotkey }, ...RUN, rounds: 100, joinedRound: info.round, nullRounds: 0 },
    data,
  );
  const backend: RoundBackend = {
    load: async (files) => {
      peer.setGlobalModel(decodeCheckpoint(files).params);
      return peer.modelHash;
    },
    contribute: async (round) => {
      const r = await peer.contribute(round);
      return { payload: r.contribution?.payload ?? null, cancelled: r.cancelled, skipped: r.skipped };
    },
    applyDecision: async (round, payloads) => peer.applyDecision(round, payloads),
  };
  const participant = new Participant({ swarm, chain, session, backend, hubPeerId: info.hub.peerId, latestCheckpoint: () => checkpointOf(hub) });
  const reports: ParticipantRound[] = [];
  participant.addEventListener('round', (e) => reports.push(e.detail));
  return {
    participant,
    swarm,
    peer,
    reports,
    async stop() {
      await swarm.stop();
      peer.destroy();
    },
  };
}

beforeAll(async () => {
  rt = await testRuntime();
  const shards = await ensureShards('bytes');
  data = { train: shards.train.tokens, heldOut: shards.heldout.tokens };
  const app = tempDir('app');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>WebLoCo</title>');
  hub = await startHub({ port: 0, dataDir: tempDir('hub'), appDir: app, runId: 'rounds-test', discoveryIntervalMs: 500, run: RUN });
}, 300_000);

afterAll(async () => {
  await hub?.stop();
});

describe('swarm rounds', () => {
  it('two members contribute to every decision and reach the model hash it names; rounds go on when one leaves; a late one catches up', async () => {
    const a = await member();
    const b = await member();
    try {
      await Promise.all([a.participant.join(), b.participant.join()]);
      await Promise.all([a.participant.run(2), b.participant.run(2)]);
      expect(a.reports.map((r) => r.round)).toEqual(b.reports.map((r) => r.round));
      for (const [ra, rb] of a.reports.map((r, i) => [r, b.reports[i]!] as const)) {
        expect(ra.modelHash).toBe(rb.modelHash);
        const decision = await hub.chain!.decision(ra.round);
        expect(toContentHash(decision!.decision.modelHash)).toBe(ra.modelHash);
      }
      // In the last round both trained and committed in time: both payloads made the decision.
      expect([a.reports.at(-1)!.included, b.reports.at(-1)!.included]).toEqual([true, true]);
      expect(a.reports.at(-1)!.decisionSize).toBe(2);

      // b leaves: the next round closes on the chain's clock all the same, with a's payload alone.
      await b.stop();
      await a.participant.run(1);
      expect(a.reports.at(-1)).toMatchObject({ included: true, decisionSize: 1 });

      // A member joining now loads the newest checkpoint, replays what followed, and within one
      // round holds the model the chain's decision names.
      const late = await member();
      try {
        await late.participant.join();
        await late.participant.run(1);
        const reached = late.reports[0]!;
        const decision = await hub.chain!.decision(reached.round);
        expect(reached.modelHash).toBe(toContentHash(decision!.decision.modelHash));
      } finally {
        await late.stop();
      }
    } finally {
      await a.stop();
      await b.stop().catch(() => undefined);
    }
  }, 600_000);
});
