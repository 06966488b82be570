// Run by outer.test.ts in a separate Node process: rebuilds θ from a seed, decodes the decision's
// payload files, aggregates them (the mean over all peers), applies the outer step at lr·√n and
// prints the model hash as JSON.
// Two processes that print the same hash show that nothing in the path depends on process state.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { randn } from '../helpers/random.ts';
import { aggregateUpdates } from '../../src/sparseloco/aggregate.ts';
import { decodeUpdate, wireLayoutOf } from '../../src/sparseloco/codec.ts';
import { elementCount, modelHash } from '../../src/model/hash.ts';
import { decisionLr, outerStep } from '../../src/sparseloco/outer.ts';
import type { TensorSpecs } from '../../src/sparseloco/types.ts';

export interface DecisionReplay {
  layout: TensorSpecs;
  thetaSeed: number;
  /** Payload files in the decision's order. */
  payloadPaths: string[];
  lr: number;
}

/** θ of the replay: seeded normal values, 0.02 scale like a freshly initialised model. */
export function replayTheta(replay: DecisionReplay): Float32Array[] {
  return replay.layout.map(({ shape }, t) => randn(elementCount(shape), replay.thetaSeed + t, 0.02));
}

export function applyDecision(replay: DecisionReplay): string {
  const theta = replayTheta(replay);
  const wire = wireLayoutOf(replay.layout);
  const updates = replay.payloadPaths.map((path) => decodeUpdate(new Uint8Array(readFileSync(path)), wire).update);
  const aggregate = aggregateUpdates(updates, replay.layout);
  outerStep(theta, aggregate.tensors, decisionLr(replay.lr, updates.length - aggregate.skippedPeers.length));
  return modelHash(replay.layout, theta);
}

const configPath = process.argv[2];
if (configPath !== undefined && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const replay = JSON.parse(readFileSync(configPath, 'utf8')) as DecisionReplay;
  process.stdout.write(JSON.stringify({ pid: process.pid, hash: applyDecision(replay) }));
}
