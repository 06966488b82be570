// The tab as a Gauntlet validator of the run of the hub that served it, like `webloco validator
// --hub URL` (src/cli/validator.ts) in Node. The main thread does the network: it reads the run
// and the hub's newest checkpoint, verifies the hub's chain (HttpChain, held to the authority the
// page's link names or this browser saw first: authority.ts), takes the checkpoint only if the
// chain vouches for its model hash, and for every round the
// chain decides it fetches the round's committed payloads and the decision's payloads by hash from
// the hub. The worker does the GPU work: its Validator judges the committed payloads (with this
// tab's own evaluation seeds), then it follows the chain's decision and checks the model hash.
// One report a round: what was committed and decided, what this tab would have gathered, whether
// that is the decision, what it rejected and why, and whom it ranks first.
import * as Comlink from 'comlink';
import type { HttpChain } from '../chain/http-chain.ts';
import type { ChainedRunInfo } from '../run/api.ts';
import {
  chainDecisions,
  checkVouchedModel,
  committedSubmissions,
  decidedModelHash,
  decidedPayloads,
  initialModelHash,
} from '../run/follow.ts';
import { fetchHubObject } from '../run/hub-client.ts';
import { connectPinned, type PinOptions } from './authority.ts';
import type { TrainerWorker } from './trainer-client.ts';
import type { JudgedRoundSummary } from './worker.ts';

/** One decided round, as this tab judged it. */
export interface ValidatedRound extends JudgedRoundSummary {
  /** Payloads committed on chain in the round. */
  committed: number;
  /** Payloads in the chain's decision. */
  decided: number;
  /** The decision's H_{w+1}. */
  decidedModelHash: string;
}

export interface ValidateRunOptions {
  hubUrl: string;
  worker: TrainerWorker;
  /** The page's `#authority=…` and the browser's memory of the hub's authority (authority.ts). */
  pin?: PinOptions;
  /** Rounds to judge; default until stopped. */
  rounds?: number;
  onRound?: (round: ValidatedRound) => void;
  /** What it is doing, for the page to say. */
  onProgress?: (step: string) => void;
}

export interface RunningValidator {
  info: ChainedRunInfo;
  /** The first round it judges (the hub checkpoint's). */
  startRound: number;
  /** Settles when the rounds are done or it was stopped; rejects with why it could not go on. */
  done: Promise<void>;
  /** Stops after the round being judged, then frees the worker's validator. */
  stop(): Promise<void>;
}

/** Starts validating the run of the hub at `hubUrl`; resolves once the worker holds the checkpoint's θ. */
export async function validateRun(o: ValidateRunOptions): Promise<RunningValidator> {
  const progress = (step: string) => o.onProgress?.(step);
  progress('reading the run from the hub and verifying its chain');
  const { info, chain } = await connectPinned(o.hubUrl, o.pin);
  const abort = new AbortController();
  try {
    progress("downloading the run's checkpoint");
    const checkpoint = await fetchHubObject(o.hubUrl, info.checkpoint.objectHash, info.checkpoint.bytes);
    progress('loading data and compiling the evaluator');
    const start = {
      runId: info.runId,
      preset: info.settings.preset,
      seqLen: info.settings.seqLen,
      round: info.checkpoint.round,
      checkpoint,
    };
    const started = await o.worker.api.validator.start(Comlink.transfer(start, [checkpoint.buffer as ArrayBuffer]));
    await checkVouchedModel(chain, start.round, started.modelHash, () => initialModelHash(info.settings), "the hub's checkpoint");
  } catch (err) {
    chain.close();
    await o.worker.api.validator.stop().catch(() => {});
    throw err;
  }
  const following = chain;
  const done = judgeRounds(o, info, following, abort.signal).finally(async () => {
    following.close();
    await o.worker.api.validator.stop().catch(() => {});
  });
  // stop() waits for `done`; a failure is reported there, not by stop().
  const settled = done.catch(() => {});
  return {
    info,
    startRound: info.checkpoint.round,
    done,
    async stop() {
      abort.abort();
      await settled;
    },
  };
}

async function judgeRounds(
  o: ValidateRunOptions,
  info: ChainedRunInfo & { checkpoint: { round: number } },
  chain: HttpChain,
  signal: AbortSignal,
): Promise<void> {
  const start = info.checkpoint.round;
  for await (const { round, decision } of chainDecisions(chain, start, { wait: true, until: start + (o.rounds ?? Infinity), signal })) {
    o.onProgress?.(`fetching round ${round}'s payloads`);
    const { committed, submissions } = await committedSubmissions(chain, round, (hash, bytes) => fetchHubObject(o.hubUrl, hash, bytes));
    const payloadHashes = decidedPayloads(decision);
    const payloads = new Map(await Promise.all(payloadHashes.map(async (h) => [h, await fetchHubObject(o.hubUrl, h)] as const)));
    const decided = decidedModelHash(decision);
    if (signal.aborted) return;
    o.onProgress?.(`judging round ${round} on this tab's GPU`);
    // Every payload was fetched into a buffer of its own: they cross to the worker without copies.
    const judged = await o.worker.api.validator.judge(
      round,
      Comlink.transfer(
        submissions,
        submissions.map((s) => s.payload.buffer as ArrayBuffer),
      ),
      Comlink.transfer(
        { decision, payloads },
        [...payloads.values()].map((p) => p.buffer as ArrayBuffer),
      ),
    );
    o.onRound?.({ ...judged, committed, decided: payloadHashes.length, decidedModelHash: decided });
    if (!judged.modelHashMatches) {
      throw new Error(
        `round ${round}: applying the decision's ${payloadHashes.length} payloads gives model ${judged.modelHash}, but the decision names ${decided}; this tab cannot follow the run from here`,
      );
    }
  }
}
