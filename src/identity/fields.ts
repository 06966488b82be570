// Field checks for objects that arrive from the network (JSON): each throws
// IdentityError('malformed') naming the object and field, so a refusal says exactly what was wrong.
// Objects must have exactly the expected keys, so nothing unsigned or unchecked rides along.
import type { PrefixedHex } from '../base/hex.ts';
import { checkAddress } from '@polkadot/util-crypto';
import { IdentityError } from './errors.ts';

/** The SS58 prefix of Bittensor (and generic Substrate) addresses. */
export const SS58_PREFIX = 42;

export type Hex = PrefixedHex;

export function expectRecord(value: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new IdentityError('malformed', `${what} must be a JSON object`);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (!keys.includes(key)) throw new IdentityError('malformed', `${what} has an unknown field '${key}' (expected ${keys.join(', ')})`);
  for (const key of keys) if (!(key in record)) throw new IdentityError('malformed', `${what} lacks the field '${key}'`);
  return record;
}

export function expectString(value: unknown, what: string, maxLength: number, pattern?: RegExp): string {
  if (typeof value !== 'string') throw new IdentityError('malformed', `${what} must be a string`);
  if (value.length === 0 || value.length > maxLength)
    throw new IdentityError('malformed', `${what} must be 1..${maxLength} characters, has ${value.length}`);
  if (pattern && !pattern.test(value)) throw new IdentityError('malformed', `${what} '${value.slice(0, 80)}' does not match ${pattern}`);
  return value;
}

export function expectInteger(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new IdentityError('malformed', `${what} must be an integer in [${min}, ${max}], found ${JSON.stringify(value)}`);
  }
  return value;
}

export function expectBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new IdentityError('malformed', `${what} must be true or false`);
  return value;
}

export function expectLiteral<T extends string>(value: unknown, what: string, literal: T): T {
  if (value !== literal) throw new IdentityError('malformed', `${what} must be '${literal}', found ${JSON.stringify(value)?.slice(0, 80)}`);
  return literal;
}

/** 0x + exactly 2·byteLength lowercase hex digits (the one spelling, so hashes compare as strings). */
export function expectHex(value: unknown, what: string, byteLength: number): Hex {
  if (typeof value !== 'string' || value.length !== 2 + 2 * byteLength || !/^0x[0-9a-f]*$/.test(value)) {
    throw new IdentityError('malformed', `${what} must be 0x followed by ${2 * byteLength} lowercase hex digits`);
  }
  return value as Hex;
}

/** An SS58 address with prefix 42; anything else is 'bad-address'. */
export function expectAddress(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length > 64) throw new IdentityError('bad-address', `${what} must be an SS58 address string`);
  const [valid, reason] = checkAddress(value, SS58_PREFIX);
  if (!valid)
    throw new IdentityError(
      'bad-address',
      `${what} ${value} is not an SS58 address with prefix ${SS58_PREFIX} (as on Bittensor): ${reason}`,
    );
  return value;
}
