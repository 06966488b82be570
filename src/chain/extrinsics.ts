// What the chain records: extrinsics (register a session binding, commit a payload, a validator's
// decision, a validator's weights) and the genesis spec. Each arrives as untrusted JSON; parse*
// functions check its shape and the signed statements are checked by signature here. The rules
// that need chain state (nonces, rounds, registrations) live in state.ts. docs/PROTOCOL.md
// ("Identity and chain") is the reference for every field.
import { CodedError } from '../base/errors.ts';
import { decodeAddress } from '@polkadot/util-crypto';
import type { SignedAnnouncement } from '../identity/announcement.ts';
import { MAX_U32 } from '../identity/announcement.ts';
import type { SignedBinding } from '../identity/binding.ts';
import { RUN_ID_PATTERN } from '../identity/binding.ts';
import { canonicalBytes, canonicalJson } from '../identity/canonical.ts';
import { IdentityError } from '../identity/errors.ts';
import { expectAddress, expectHex, expectInteger, expectLiteral, expectRecord, expectString, type Hex } from '../identity/fields.ts';
import { verifySignature, type SigningKey } from '../identity/keys.ts';

export type ChainErrorCode =
  | 'unknown-call' // the extrinsic's `call` is not one the chain knows
  | 'malformed' // a field is missing, mistyped or out of range
  | 'oversized' // the extrinsic (or the pool) is larger than the chain accepts
  | 'bad-signature'
  | 'bad-address'
  | 'wrong-nonce' // a nonce that is not above the signer's last one, or a binding nonce already used
  | 'wrong-run'
  | 'wrong-round' // a commit outside its round, weights for a future round
  | 'expired' // the session binding has expired
  | 'not-registered' // a commit from a binding, or weights for a hotkey, never registered
  | 'already-registered'
  | 'duplicate' // a second commit of one binding in a round, a second decision for a round
  | 'insufficient-work' // a binding whose id lacks the proof of work the genesis asks for
  | 'too-young' // a commit from a binding registered fewer than the genesis's bindingAgeRounds rounds ago
  | 'copied-payload' // a commit of a payload hash another binding already committed in the round
  | 'round-full' // the round already holds as many commits as a decision can list
  | 'not-validator' // a decision or weights signed by a key that is not one of the run's validators
  | 'too-early' // a decision before its round's deadline has passed
  | 'unknown-payload' // a decision names a payload hash that was not committed in its round
  | 'stopped' // the chain is not producing blocks (closed, or its store failed)
  | 'refused'; // an external chain's runtime or transaction pool refused the call (Subtensor: the message names its error)

export class ChainError extends CodedError<ChainErrorCode> {}

/** Runs `check`, turning an IdentityError into the ChainError with the matching code. */
export function asChainError<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof IdentityError)) throw error;
    const code: ChainErrorCode = error.code === 'replay' ? 'wrong-nonce' : error.code === 'unknown-binding' ? 'not-registered' : error.code;
    throw new ChainError(code, error.message);
  }
}

/** Largest extrinsic (canonical JSON bytes) the chain accepts. */
export const MAX_EXTRINSIC_BYTES = 64 * 1024;
const MAX_DECISION_PAYLOADS = 256;
/** Commits a round holds at most: no more than one decision can list. */
export const MAX_COMMITS_PER_ROUND = MAX_DECISION_PAYLOADS;
/** The hardest proof of work a genesis may ask of a registration (2^32 hashes: hours on one core). */
const MAX_BINDING_WORK_BITS = 32;
/**
 * 2^19 tries on average: under a second in Node and about a second in a tab, 2 s for 9 in 10
 * (docs/BENCHMARKS.md); a thousand identities about 10 CPU-minutes (docs/PROTOCOL.md, "Registration cost").
 */
export const DEFAULT_BINDING_WORK_BITS = 19;
/**
 * An honest peer's null rounds after joining (src/sparseloco/error-feedback.ts DEFAULT_NULL_ROUNDS,
 * test/chain/rules.test.ts holds them equal): it sends nothing before then anyway. Not imported:
 * the chain's modules run under Node's type stripping (the crash test's child), which the
 * sparseloco classes' parameter properties do not pass.
 */
export const DEFAULT_BINDING_AGE_ROUNDS = 2;
const MAX_WEIGHTS = 4096;
const MAX_WEIGHT = 0xffff;

export const GENESIS_KIND = 'webloco/genesis/v1';
export const DECISION_KIND = 'webloco/decision/v1';
export const WEIGHTS_KIND = 'webloco/weights/v1';

/** Fixed at genesis: which run, the clock, who seals blocks and who may decide and set weights. */
export interface GenesisSpec {
  kind: typeof GENESIS_KIND;
  run: string;
  blocksPerRound: number;
  blockTimeMs: number;
  /** The authority that signs every block: SS58, prefix 42, sr25519. */
  authority: string;
  /** Validators: SS58, prefix 42, sr25519. */
  validators: string[];
  /** Leading zero bits a binding's id must have to be registered: its proof of work. */
  bindingWorkBits: number;
  /** Rounds after its registration's round before a binding's commits are accepted (none for one registered in round 0). */
  bindingAgeRounds: number;
}

/** The validator's statement that θ_{w+1} is θ_w plus exactly these payloads, and has this hash. */
export interface Decision {
  kind: typeof DECISION_KIND;
  run: string;
  round: number;
  /** The gather set, in aggregation order: blake3 hashes of committed payloads of `round`. */
  payloadHashes: Hex[];
  /** H_{w+1}: the model hash after applying them. */
  modelHash: Hex;
  validator: string;
  /** Above the validator's previous nonce (decisions and weights share the sequence). */
  nonce: number;
}

export interface WeightEntry {
  hotkey: string;
  /** 0..65535, as Subtensor's u16 weights. */
  weight: number;
}

export interface Weights {
  kind: typeof WEIGHTS_KIND;
  run: string;
  /** The round whose scores these weights reflect. */
  round: number;
  weights: WeightEntry[];
  validator: string;
  nonce: number;
}

export interface SignedDecision {
  decision: Decision;
  signature: Hex;
}

export interface SignedWeights {
  weights: Weights;
  signature: Hex;
}

export type Extrinsic =
  | { call: 'genesis'; spec: GenesisSpec }
  | { call: 'register'; binding: SignedBinding }
  | { call: 'commit'; commit: SignedAnnouncement }
  | { call: 'decision'; decision: SignedDecision }
  | { call: 'weights'; weights: SignedWeights };

export type Call = Extrinsic['call'];
/** The calls anyone may submit; 'genesis' exists only in block 0. */
const SUBMITTABLE_CALLS = ['register', 'commit', 'decision', 'weights'] as const;
const FIELD_OF_CALL = { genesis: 'spec', register: 'binding', commit: 'commit', decision: 'decision', weights: 'weights' } as const;

/**
 * Checks an untrusted extrinsic's envelope: a known call, at most MAX_EXTRINSIC_BYTES, exactly the
 * call's field. The call's content is checked when it is applied (state.ts).
 */
export function parseExtrinsic(value: unknown): Extrinsic {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ChainError('malformed', 'an extrinsic must be a JSON object {call, …}');
  const call = (value as { call?: unknown }).call;
  if (typeof call !== 'string' || !Object.hasOwn(FIELD_OF_CALL, call)) {
    throw new ChainError(
      'unknown-call',
      `unknown call ${JSON.stringify(call)?.slice(0, 40)}: the chain accepts ${SUBMITTABLE_CALLS.join(', ')}`,
    );
  }
  const size = asChainError(() => canonicalJson(value)).length;
  if (size > MAX_EXTRINSIC_BYTES)
    throw new ChainError('oversized', `the ${call} extrinsic is ${size} bytes; the chain accepts at most ${MAX_EXTRINSIC_BYTES}`);
  asChainError(() => expectRecord(value, `${call} extrinsic`, ['call', FIELD_OF_CALL[call as Call]]));
  return value as Extrinsic;
}

const GENESIS_FIELDS = ['kind', 'run', 'blocksPerRound', 'blockTimeMs', 'authority', 'validators', 'bindingWorkBits', 'bindingAgeRounds'];

/**
 * Checks a genesis spec. A chain created before registrations had a cost has a spec without
 * `bindingWorkBits` and `bindingAgeRounds`: it is read with both 0, the rules it was made under.
 */
export function parseGenesisSpec(value: unknown): GenesisSpec {
  return asChainError(() => {
    const legacy = typeof value === 'object' && value !== null && !('bindingWorkBits' in value) && !('bindingAgeRounds' in value);
    const s = expectRecord(value, 'genesis spec', legacy ? GENESIS_FIELDS.slice(0, -2) : GENESIS_FIELDS);
    if (!Array.isArray(s.validators) || s.validators.length > 64)
      throw new IdentityError('malformed', 'genesis spec.validators must be a list of at most 64 addresses');
    return {
      kind: expectLiteral(s.kind, 'genesis spec.kind', GENESIS_KIND),
      run: expectString(s.run, 'genesis spec.run', 64, RUN_ID_PATTERN),
      blocksPerRound: expectInteger(s.blocksPerRound, 'genesis spec.blocksPerRound', 1, 1_000_000),
      blockTimeMs: expectInteger(s.blockTimeMs, 'genesis spec.blockTimeMs', 1, 3_600_000),
      authority: expectAddress(s.authority, 'genesis spec.authority'),
      validators: s.validators.map((v, i) => expectAddress(v, `genesis spec.validators[${i}]`)),
      bindingWorkBits: legacy ? 0 : expectInteger(s.bindingWorkBits, 'genesis spec.bindingWorkBits', 0, MAX_BINDING_WORK_BITS),
      bindingAgeRounds: legacy ? 0 : expectInteger(s.bindingAgeRounds, 'genesis spec.bindingAgeRounds', 0, 1_000_000),
    };
  });
}

function expectHashList(value: unknown, what: string, max: number): Hex[] {
  if (!Array.isArray(value) || value.length > max) throw new IdentityError('malformed', `${what} must be a list of at most ${max} hashes`);
  const hashes = value.map((h, i) => expectHex(h, `${what}[${i}]`, 32));
  if (new Set(hashes).size !== hashes.length) throw new IdentityError('malformed', `${what} lists a hash twice`);
  return hashes;
}

export function parseDecision(value: unknown): Decision {
  return asChainError(() => {
    const d = expectRecord(value, 'decision', ['kind', 'run', 'round', 'payloadHashes', 'modelHash', 'validator', 'nonce']);
    return {
      kind: expectLiteral(d.kind, 'decision.kind', DECISION_KIND),
      run: expectString(d.run, 'decision.run', 64, RUN_ID_PATTERN),
      round: expectInteger(d.round, 'decision.round', 0, MAX_U32),
      payloadHashes: expectHashList(d.payloadHashes, 'decision.payloadHashes', MAX_DECISION_PAYLOADS),
      modelHash: expectHex(d.modelHash, 'decision.modelHash', 32),
      validator: expectAddress(d.validator, 'decision.validator'),
      nonce: expectInteger(d.nonce, 'decision.nonce', 0, MAX_U32),
    };
  });
}

export function parseWeights(value: unknown): Weights {
  return asChainError(() => {
    const w = expectRecord(value, 'weights', ['kind', 'run', 'round', 'weights', 'validator', 'nonce']);
    if (!Array.isArray(w.weights) || w.weights.length > MAX_WEIGHTS)
      throw new IdentityError('malformed', `weights.weights must be a list of at most ${MAX_WEIGHTS} entries`);
    const entries = w.weights.map((entry, i) => {
      const e = expectRecord(entry, `weights.weights[${i}]`, ['hotkey', 'weight']);
      return {
        hotkey: expectAddress(e.hotkey, `weights.weights[${i}].hotkey`),
        weight: expectInteger(e.weight, `weights.weights[${i}].weight`, 0, MAX_WEIGHT),
      };
    });
    if (new Set(entries.map((e) => e.hotkey)).size !== entries.length)
      throw new IdentityError('malformed', 'weights.weights lists a hotkey twice');
    return {
      kind: expectLiteral(w.kind, 'weights.kind', WEIGHTS_KIND),
      run: expectString(w.run, 'weights.run', 64, RUN_ID_PATTERN),
      round: expectInteger(w.round, 'weights.round', 0, MAX_U32),
      weights: entries,
      validator: expectAddress(w.validator, 'weights.validator'),
      nonce: expectInteger(w.nonce, 'weights.nonce', 0, MAX_U32),
    };
  });
}

/** Checks a validator statement's shape and sr25519 signature; returns it parsed. */
export function verifyValidatorStatement<T extends Decision | Weights>(
  value: unknown,
  field: 'decision' | 'weights',
  parse: (v: unknown) => T,
): { statement: T; signature: Hex } {
  const signed = asChainError(() => expectRecord(value, `signed ${field}`, [field, 'signature']));
  const statement = parse(signed[field]);
  const signature = asChainError(() => expectHex(signed.signature, `signed ${field}.signature`, 64));
  if (!verifySignature('sr25519', canonicalBytes(statement), signature, decodeAddress(statement.validator))) {
    throw new ChainError('bad-signature', `the ${field} is not signed by its validator ${statement.validator}`);
  }
  return { statement, signature };
}

/** Signs a decision with the validator's sr25519 key (whose address must be decision.validator). */
export function signDecision(key: SigningKey, decision: Omit<Decision, 'kind' | 'validator'>): SignedDecision {
  if (key.type !== 'sr25519') throw new RangeError(`validators sign with sr25519 keys, this one is ${key.type}`);
  const full: Decision = { kind: DECISION_KIND, ...decision, validator: key.address };
  return { decision: full, signature: key.sign(canonicalBytes(full)) };
}

export function signWeights(key: SigningKey, weights: Omit<Weights, 'kind' | 'validator'>): SignedWeights {
  if (key.type !== 'sr25519') throw new RangeError(`validators sign with sr25519 keys, this one is ${key.type}`);
  const full: Weights = { kind: WEIGHTS_KIND, ...weights, validator: key.address };
  return { weights: full, signature: key.sign(canonicalBytes(full)) };
}
