// The audit: anyone holding a round's public data (θ_w, the payloads as uploaded, the standings
// before the round, and the decision record, whose evaluation seed is revealed) recomputes the
// validator's round with its own evaluator and compares: the same gather set and H_{w+1} exactly,
// the same rejections, and every loss and score within a float tolerance (GPUs differ in the last
// bits of a forward pass; the arithmetic after the losses is the same float64 code).
import type { LossEvaluator } from './evaluator.ts';
import { judgeRound, type DecisionRecord, type GauntletContext, type RoundInput } from './round.ts';
import type { GauntletState, PeerScore } from './standings.ts';

export interface AuditResult {
  ok: boolean;
  /** Largest |recomputed − recorded| over every loss and score. */
  maxDifference: number;
  problems: string[];
  recomputed: DecisionRecord;
  /** The standings after the round as recomputed: the next round's `previous`, for an auditor following the run. */
  state: GauntletState;
}

/** Default tolerance: absolute, on losses (nats) and on scores. */
const AUDIT_TOLERANCE = 1e-4;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export async function auditRound(
  evaluator: LossEvaluator,
  context: GauntletContext,
  previous: GauntletState,
  input: RoundInput,
  record: DecisionRecord,
  tolerance = AUDIT_TOLERANCE,
): Promise<AuditResult> {
  const problems: string[] = [];
  if (record.round !== input.round) problems.push(`the record is for round ${record.round}, the data for round ${input.round}`);
  const { record: recomputed, state } = await judgeRound(evaluator, context, previous, input, record.evaluationSeed);
  if (recomputed.baseModelHash !== record.baseModelHash)
    problems.push(`θ_w hashes to ${recomputed.baseModelHash}, the record says ${record.baseModelHash}`);
  if (!sameList(recomputed.payloadHashes, record.payloadHashes))
    problems.push(`gather set differs: recomputed ${recomputed.gathered.join(', ')}, recorded ${record.gathered.join(', ')}`);
  if (recomputed.nextModelHash !== record.nextModelHash)
    problems.push(`H_{w+1} differs: recomputed ${recomputed.nextModelHash}, recorded ${record.nextModelHash}`);
  const rejections = (r: DecisionRecord) => r.rejected.map((x) => `${x.peer}:${x.payloadHash}:${x.reason}`);
  if (!sameList(rejections(recomputed), rejections(record)))
    problems.push(`rejections differ: recomputed ${rejections(recomputed).join(', ')}, recorded ${rejections(record).join(', ')}`);
  if (!sameList(recomputed.admission.admitted, record.admission.admitted))
    problems.push(
      `admitted peers differ: recomputed ${recomputed.admission.admitted.join(', ')}, recorded ${record.admission.admitted.join(', ')}`,
    );

  let maxDifference = 0;
  const compare = (what: string, a: number | undefined, b: number | undefined) => {
    if (a === undefined && b === undefined) return;
    if (a === undefined || b === undefined) {
      problems.push(`${what}: recomputed ${a}, recorded ${b}`);
      return;
    }
    const difference = a === b ? 0 : Math.abs(a - b);
    maxDifference = Math.max(maxDifference, Number.isNaN(difference) ? Infinity : difference);
    if (!(difference <= tolerance)) problems.push(`${what}: recomputed ${a}, recorded ${b}`);
  };
  compare('admission minGain', recomputed.admission.minGain ?? undefined, record.admission.minGain ?? undefined);
  const recorded = new Map(record.measurements.map((m) => [m.hotkey, m]));
  if (
    !sameList(
      recomputed.measurements.map((m) => m.hotkey),
      record.measurements.map((m) => m.hotkey),
    )
  ) {
    problems.push(
      `evaluated peers differ: recomputed ${recomputed.measurements.map((m) => m.hotkey).join(', ')}, recorded ${record.measurements.map((m) => m.hotkey).join(', ')}`,
    );
  }
  for (const m of recomputed.measurements) {
    const r = recorded.get(m.hotkey);
    if (!r) continue;
    for (const field of ['lossBeforeAssigned', 'lossAfterAssigned', 'lossBeforeRandom', 'lossAfterRandom'] as const)
      compare(`${m.hotkey} ${field}`, m[field], r[field]);
  }
  const recordedScores = new Map(record.scores.map((s) => [`${s.hotkey}/${s.penalties.join('+')}`, s]));
  for (const s of recomputed.scores) {
    const r = recordedScores.get(`${s.hotkey}/${s.penalties.join('+')}`);
    if (!r) {
      problems.push(`${s.hotkey}: the recomputed round scores it (${s.penalties.join(', ') || 'evaluated'}), the record does not`);
      continue;
    }
    if (r.binary !== s.binary) problems.push(`${s.hotkey} binary: recomputed ${s.binary}, recorded ${r.binary}`);
    if (r.admitted !== s.admitted) problems.push(`${s.hotkey} admitted: recomputed ${s.admitted}, recorded ${r.admitted}`);
    for (const field of [
      'gradientScore',
      'assignedGain',
      'randomGain',
      'binaryMA',
      'ordinal',
      'sync',
      'final',
    ] as const satisfies readonly (keyof PeerScore)[]) {
      compare(`${s.hotkey} ${field}`, s[field], r[field]);
    }
  }
  if (recomputed.scores.length !== record.scores.length)
    problems.push(`the record scores ${record.scores.length} peers, the recomputed round ${recomputed.scores.length}`);
  return { ok: problems.length === 0, maxDifference, problems, recomputed, state };
}
