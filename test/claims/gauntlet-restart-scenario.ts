// A Gauntlet hub that survives SIGKILL at any instant (issue 18), on Dawn: a hub as `webloco hub`
// starts one (test/hub/gauntlet-hub.child.ts, a child process on a fixed port) decides the rounds
// of two honest members and a noise peer, which live in this process (engine peers training one
// step of 16 tokens a round; their payloads go into the hub's object store on disk, their commits
// to its chain over HTTP). The hub is killed with SIGKILL at instants drawn from a printed seed
// (WEBLOCO_CRASH_SEED=<seed> replays them): the moment it has saved a judgement (before the
// decision reaches the chain), the moment a decision's block is announced (before the hub has
// finished with that round), or some time after it starts. After each restart it must go
// on deciding every round (no gap, never "the standings are ready for round 0"), and its public
// record must read as one uninterrupted run: every published judgement re-audits with
// src/gauntlet/audit.ts from public data and the members' own payloads, and each round's
// `previous` standings are exactly the standings the audit of the round before arrives at. The
// secret stays in gauntlet/secret, mode 0600, and in no published record.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, watch } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'vitest';
import { adversarialPayload } from '../../src/engine/adversary.ts';
import { initialModel, type GlobalModel } from '../../src/engine/global-model.ts';
import { Peer } from '../../src/engine/peer.ts';
import { auditRound } from '../../src/gauntlet/audit.ts';
import type { GauntletState } from '../../src/gauntlet/standings.ts';
import { Validator } from '../../src/gauntlet/validator.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { DiskContentStore } from '../../src/hub/object-store.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { SigningKey } from '../../src/identity/keys.ts';
import { Session } from '../../src/identity/session.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import type { JudgedRoundRecord, RoundRecord } from '../../src/run/api.ts';
import { wireLayoutOf } from '../../src/sparseloco/codec.ts';
import { rng } from '../helpers/random.ts';
import { until } from '../helpers/until.ts';
import type { BytesData } from './swarm-vs-centralized.ts';

const CHILD = new URL('../hub/gauntlet-hub.child.ts', import.meta.url).pathname;
const LOADERS = new URL('../../bin/register-loaders.mjs', import.meta.url).pathname;
const RUN = 'gauntlet-restart';
const BLOCK_TIME_MS = 100;
const BLOCKS_PER_ROUND = 30;
const SEQ_LEN = 16;

export interface RestartScenario {
  /** Rounds decided by the end, kills included. */
  rounds: number;
  kills: number;
}

/**
 * When a life is killed: some time after it serves; the moment its k-th decision's block is
 * announced (the hub has not finished the round); or the moment it has saved its k-th judgement
 * (before the decision reaches the chain: the next life must submit the saved one).
 */
type Trigger = { afterMs: number } | { onDecision: number } | { onSave: number };

interface Life {
  child: ChildProcess;
  http: string;
  decided: number[];
  exited: Promise<void>;
  stderr: () => string;
  stdout: () => string;
}

/** A free TCP port for the hub (the app, the API and libp2p share it): the same in every life. */
function freePort(): Promise<number> {
  return new Promise<number>((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

function startLife(dataDir: string, port: number, trigger: Trigger | null): Promise<Life> {
  return new Promise((ready, fail) => {
    const child = spawn(
      process.execPath,
      ['--no-warnings', '--import', LOADERS, CHILD, dataDir, String(port), String(BLOCK_TIME_MS), String(BLOCKS_PER_ROUND)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const decided: number[] = [];
    let life: Life | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      let message: { ready?: { http: string }; decided?: number };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return; // a human-readable line
      }
      if (message.ready) {
        life = { child, http: message.ready.http, decided, exited, stderr: () => stderr, stdout: () => stdout };
        if (trigger && 'afterMs' in trigger) setTimeout(() => child.kill('SIGKILL'), trigger.afterMs);
        if (trigger && 'onSave' in trigger) {
          // gauntlet/state.json is renamed into place once per judged round (files.ts).
          let saves = 0;
          const watcher = watch(join(dataDir, 'gauntlet'), (_, name) => {
            if (name === 'state.json' && ++saves === trigger.onSave) child.kill('SIGKILL');
          });
          void exited.then(() => watcher.close());
        }
        ready(life);
      } else if (message.decided !== undefined) {
        decided.push(message.decided);
        if (trigger && 'onDecision' in trigger && decided.length === trigger.onDecision) child.kill('SIGKILL');
      }
    });
    child.once('exit', (code, signal) => {
      if (!life) fail(new Error(`the hub child exited (${code ?? signal}) before it was ready: ${stderr}`));
    });
  });
}

async function getJson<T>(url: string): Promise<T | undefined> {
  const res = await fetch(url);
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function post(http: string, body: unknown): Promise<void> {
  const res = await fetch(`${http}/api/chain/extrinsics`, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST extrinsic: ${res.status} ${await res.text()}`);
}

/** The members: they follow the hub's decisions, and in each round they hold θ of, commit one payload each. */
class Members {
  readonly payloads = new Map<string, Uint8Array>();
  /** θ_r for every round r the members reached. */
  readonly models = new Map<number, GlobalModel>();
  /** Decisions the members could not follow (a model hash other than the record's): none, or the test fails. */
  readonly mismatches: string[] = [];
  private applied = 0;
  private committed = -1;
  private stopped = false;
  private readonly wire = wireLayoutOf(parameterLayout(preset('tiny')).tensors);

  private constructor(
    private readonly honest: { session: Session; peer: Peer }[],
    private readonly noise: Session,
    private readonly store: DiskContentStore,
  ) {
    const first = honest[0]!.peer;
    this.models.set(0, { theta: first.theta.slice(), hash: first.modelHashBytes });
  }

  static async create(rt: GpuRuntime, data: BytesData, dataDir: string): Promise<Members> {
    const config = preset('tiny');
    const theta0 = initialModel(parameterLayout(config, rt.limits), 0);
    const session = async () => Session.start(await createBurnerSigner(), { run: RUN, peer: SigningKey.generate('ed25519') });
    const honest = await Promise.all(
      [0, 1].map(async () => {
        const s = await session();
        const peer = await Peer.create(
          rt,
          {
            config,
            identity: { runId: RUN, hotkey: s.signed.binding.hotkey },
            batch: 1,
            seqLen: SEQ_LEN,
            innerSteps: 1,
            rounds: 1000,
            nullRounds: 0,
            evalBatches: 1,
          },
          { train: data.train, heldOut: data.heldOut },
          { theta: theta0.theta.slice(), hash: theta0.hash },
        );
        return { session: s, peer };
      }),
    );
    const store = new DiskContentStore(dataDir);
    await store.init();
    return new Members(honest, await session(), store);
  }

  /** Keeps following and committing against whatever hub answers at `http()` until stopped. */
  async run(http: () => string | null): Promise<void> {
    let registered = false;
    while (!this.stopped) {
      const base = http();
      try {
        if (base) {
          if (!registered) {
            for (const s of [...this.honest.map((h) => h.session), this.noise]) await post(base, { call: 'register', binding: s.signed });
            registered = true;
          }
          await this.step(base);
        }
      } catch {
        // the hub is down or restarting: try again
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops following once the current step is done (`run` then resolves). */
  stop(): void {
    this.stopped = true;
  }

  destroy(): void {
    for (const { peer } of this.honest) peer.destroy();
  }

  private async step(http: string): Promise<void> {
    const head = (await getJson<{ round: number; height: number }>(`${http}/api/chain/head`))!;
    while (this.applied < head.round) {
      const record = await getJson<RoundRecord>(`${http}/api/rounds/${this.applied}`);
      if (!record) return;
      const payloads = record.payloadHashes.map((h) => this.payloads.get(h)!);
      for (const { peer } of this.honest) peer.applyDecision(this.applied, payloads);
      const peer = this.honest[0]!.peer;
      if (peer.modelHash !== record.modelHash)
        this.mismatches.push(`round ${this.applied}: ${peer.modelHash}, recorded ${record.modelHash}`);
      this.applied++;
      this.models.set(this.applied, { theta: peer.theta.slice(), hash: peer.modelHashBytes });
    }
    const blocksLeft = (head.round + 1) * BLOCKS_PER_ROUND - 1 - head.height;
    if (this.applied !== head.round || this.committed >= head.round || blocksLeft < 8) return;
    const round = head.round;
    this.committed = round;
    const sent: { session: Session; payload: Uint8Array }[] = [];
    for (const { session, peer } of this.honest) {
      const { contribution } = await peer.contribute(round);
      if (contribution) sent.push({ session, payload: contribution.payload });
    }
    const peer = this.honest[0]!.peer;
    const noise = adversarialPayload('noise', {
      origin: { runId: RUN, round, baseModelHash: peer.modelHashBytes },
      wire: this.wire,
      layout: peer.layout.tensors,
      honest: null,
      previous: null,
      earlier: [],
      seed: round,
    })!;
    sent.push({ session: this.noise, payload: noise });
    for (const { session, payload } of sent) {
      const hash = await this.store.put(payload);
      this.payloads.set(hash, payload);
      const commit = session.announce({
        round,
        baseModelHash: `0x${peer.modelHash}` as Hex,
        payloadHash: `0x${hash}` as Hex,
        bytes: payload.length,
      });
      await post(http, { call: 'commit', commit });
    }
  }
}

/** Runs the scenario; prints the seed that replays its kill instants. */
export async function runRestartScenario(rt: GpuRuntime, data: BytesData, scenario: RestartScenario): Promise<void> {
  const seed = process.env.WEBLOCO_CRASH_SEED ? Number(process.env.WEBLOCO_CRASH_SEED) : Math.floor(Math.random() * 2 ** 32);
  if (!Number.isInteger(seed)) throw new Error(`WEBLOCO_CRASH_SEED must be an integer, got '${process.env.WEBLOCO_CRASH_SEED}'`);
  const random = rng(seed);
  const triggers: Trigger[] = Array.from({ length: scenario.kills }, (_, kill): Trigger => {
    const draw = random();
    if (kill % 3 === 0) return { onSave: 1 + Math.floor(draw * 2) };
    if (kill % 3 === 1) return { onDecision: 1 + Math.floor(draw * 2) };
    return { afterMs: Math.round(500 + draw * 4_000) };
  });
  console.log(
    `Gauntlet restart seed ${seed}, kill instants ${JSON.stringify(triggers)} (replay: WEBLOCO_CRASH_SEED=${seed} and this test file)`,
  );
  const dataDir = mkdtempSync(join(tmpdir(), 'webloco-gauntlet-restart-'));
  mkdirSync(join(dataDir, 'gauntlet')); // watched for the Gauntlet's saves
  const port = await freePort();
  const members = await Members.create(rt, data, dataDir);
  let current: Life | null = null;
  const following = members.run(() => current?.http ?? null);
  const lives: Life[] = [];
  try {
    for (const trigger of [...triggers, null]) {
      const life = await startLife(dataDir, port, trigger);
      lives.push(life);
      current = life;
      if (trigger) {
        await life.exited;
        current = null;
        continue;
      }
      await until(
        `round ${scenario.rounds - 1} decided`,
        async () => (await getJson<RoundRecord>(`${life.http}/api/rounds/${scenario.rounds - 1}`)) !== undefined,
        scenario.rounds * BLOCKS_PER_ROUND * BLOCK_TIME_MS * 4 + 60_000,
      );
    }
    const last = lives.at(-1)!;
    const context = `seed ${seed}, kills ${JSON.stringify(triggers)}`;
    const resubmitted = lives.filter((l) => /judged and saved before the hub stopped/.test(l.stdout())).length;
    console.log(
      `decisions announced per life: ${JSON.stringify(lives.map((l) => l.decided))}; lives that submitted a judgement saved before a kill: ${resubmitted}`,
    );
    for (const life of lives) expect(life.stderr(), context).not.toMatch(/standings are ready for round/);
    // Every restart went on deciding where the chain stood: no round decided twice, and (below) every round judged.
    const announced = lives.flatMap((l) => l.decided);
    expect(announced, context).toEqual([...new Set(announced)].sort((a, b) => a - b));
    expect(members.mismatches, context).toEqual([]);

    // The secret outlived every kill, readable by the owner only, and no record reveals it.
    const secret = readFileSync(join(dataDir, 'gauntlet', 'secret'), 'utf8').trim();
    expect(statSync(join(dataDir, 'gauntlet', 'secret')).mode & 0o777).toBe(0o600);
    // The public record reads as one run: each judgement re-audits, and each round's standings
    // before it are the ones the audit of the round before ends with.
    const auditor = await Validator.create(rt, {
      runId: RUN,
      config: preset('tiny'),
      trainTokens: data.train,
      seqLen: SEQ_LEN,
      secret: 'auditor',
      gauntlet: { assignedSequences: 2, randomSequences: 2 },
    });
    try {
      let after: GauntletState | undefined;
      let gathered = 0;
      for (let round = 0; round < scenario.rounds; round++) {
        const judged = (await getJson<JudgedRoundRecord>(`${last.http}/api/gauntlet/rounds/${round}`))!;
        expect(JSON.stringify(judged), 'a published judgement').not.toContain(secret);
        expect(judged, `round ${round}'s judgement (${context})`).toBeDefined();
        // As published (JSON): the standings before the round, exactly what the round before ended with.
        expect(judged.previous, `round ${round}'s standings before it (${context})`).toEqual(after ?? { round: 0, peers: {} });
        const input = {
          round,
          base: members.models.get(round)!,
          submissions: judged.submissions.map((s) => ({ hotkey: s.hotkey, payload: members.payloads.get(s.payloadHash)! })),
          recentModels: new Map(judged.recentModels),
        };
        const audit = await auditRound(auditor.evaluator, auditor.context, judged.previous, input, judged.record);
        expect(audit.problems, `round ${round} (${context})`).toEqual([]);
        after = JSON.parse(JSON.stringify(audit.state)) as GauntletState;
        gathered += judged.record.payloadHashes.length;
      }
      expect(gathered, 'the honest members were gathered').toBeGreaterThan(0);
    } finally {
      auditor.destroy();
    }
  } finally {
    members.stop();
    await following;
    members.destroy();
    for (const life of lives) life.child.kill('SIGKILL');
  }
}
