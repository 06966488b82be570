// What the Subtensor adapter needs from a Subtensor runtime's metadata, with no network: the
// calls it submits (built from the metadata, so call indices and argument types are the
// runtime's own), the storage keys it reads and the decoding of their values. The live adapter
// (../subtensor.ts) makes one from the connected ApiPromise's registry; the tests make one from a
// recorded metadata blob. Names and types follow opentensor/subtensor at commit 1194374e
// (pallets/subtensor/src/macros/dispatches.rs, pallets/subtensor/src/lib.rs,
// pallets/commitments/src/{lib,types}.rs); the line numbers cited below are of that commit.
import { TypeRegistry } from '@polkadot/types';
import type { Codec, Registry } from '@polkadot/types/types';
import type { Call } from '@polkadot/types/interfaces';
import { Metadata } from '@polkadot/types/metadata';
import { decorateExtrinsics, decorateStorage } from '@polkadot/types/metadata/decorate';
import { compactStripLength, hexToU8a, u8aToHex } from '@polkadot/util';
import { blake2AsU8a, encodeAddress } from '@polkadot/util-crypto';
import { SS58_PREFIX, type Hex } from '../../identity/fields.ts';
import { MAX_COMMITMENT_FIELD_BYTES } from './commitment.ts';

/**
 * The calls the adapter submits, by pallet and call name as the metadata spells them.
 * SubtensorModule: set_weights call_index 0 (dispatches.rs:84), burned_register 7 (:1012),
 * commit_weights 96 (:235), reveal_weights 97 (:349). Commitments: set_commitment 0 (lib.rs:211).
 */
export const REQUIRED_CALLS = {
  SubtensorModule: ['burned_register', 'set_weights', 'commit_weights', 'reveal_weights'],
  Commitments: ['set_commitment'],
} as const;

/**
 * The storage the adapter reads (pallets/subtensor/src/lib.rs: Tempo :1809, SubnetworkN :1870,
 * WeightsVersionKey :2042, CommitRevealWeightsEnabled :2102, Uids :2274, Keys :2279, Consensus
 * :2302, Incentive :2307, Dividends :2312, LastUpdate :2321, ValidatorPermit :2331,
 * BlockAtRegistration :2362, TotalHotkeyAlpha :1459; pallets/commitments/src/lib.rs CommitmentOf :136).
 */
export const REQUIRED_STORAGE = {
  SubtensorModule: [
    'Tempo',
    'SubnetworkN',
    'WeightsVersionKey',
    'CommitRevealWeightsEnabled',
    'Uids',
    'Keys',
    'Consensus',
    'Incentive',
    'Dividends',
    'LastUpdate',
    'ValidatorPermit',
    'BlockAtRegistration',
    'TotalHotkeyAlpha',
  ],
  Commitments: ['CommitmentOf'],
  Timestamp: ['Now'],
} as const;

export type StorageName = {
  [P in keyof typeof REQUIRED_STORAGE]: `${P}.${(typeof REQUIRED_STORAGE)[P][number]}`;
}[keyof typeof REQUIRED_STORAGE];

/**
 * Transaction extensions of the Subtensor runtime that @polkadot/api does not know. Each carries
 * no data and signs no implicit data, so declaring them empty is exact; without it the api warns
 * and treats them so anyway. runtime/src/lib.rs:1659 (CustomTxExtension). The test checks the
 * first three against the recorded metadata; CheckShieldedTxValidity, newer than it, is a
 * PhantomData struct with `Implicit = ()` (pallets/shield/src/extension.rs:17, :39).
 */
export const SUBTENSOR_SIGNED_EXTENSIONS = {
  SudoTransactionExtension: { extrinsic: {}, payload: {} },
  SubtensorTransactionExtension: { extrinsic: {}, payload: {} },
  DrandPriority: { extrinsic: {}, payload: {} },
  CheckShieldedTxValidity: { extrinsic: {}, payload: {} },
} as const;

/** A commitment as CommitmentOf stores it (pallets/commitments/src/types.rs:417 Registration). */
export interface StoredCommitment {
  /** The block the commitment was last set in. */
  block: number;
  /** Each field's bytes: `Raw`/`BigRaw` data as is; other kinds of field (hashes, timelocked) as undefined. */
  fields: (Uint8Array | undefined)[];
}

type StorageFunction = ((...args: unknown[]) => Uint8Array) & {
  meta: {
    modifier: { isOptional: boolean };
    fallback: Uint8Array;
    type: { isPlain: boolean; asPlain: { toNumber(): number }; asMap: { value: { toNumber(): number } } };
  };
  keyPrefix: (...args: unknown[]) => Uint8Array;
};

type CallBuilder = (...args: unknown[]) => Call;

export class SubtensorRuntime {
  readonly registry: Registry;
  readonly metadata: Metadata;
  readonly #calls: Record<string, Record<string, CallBuilder>>;
  readonly #storage: Record<string, Record<string, StorageFunction>>;

  /** Uses `registry` (which must already hold `metadata`, as an ApiPromise's does). */
  constructor(registry: Registry, metadata: Metadata) {
    this.registry = registry;
    this.metadata = metadata;
    const latest = metadata.asLatest;
    this.#calls = decorateExtrinsics(registry, latest, metadata.version);
    this.#storage = decorateStorage(registry, latest, metadata.version);
    const missing: string[] = [];
    for (const [pallet, calls] of Object.entries(REQUIRED_CALLS))
      for (const call of calls) if (!this.#call(pallet, call)) missing.push(`call ${pallet}.${call}`);
    for (const [pallet, items] of Object.entries(REQUIRED_STORAGE))
      for (const item of items) if (!this.#entry(pallet, item)) missing.push(`storage ${pallet}.${item}`);
    if (missing.length > 0) {
      throw new Error(
        `This runtime's metadata lacks ${missing.join(', ')}: it is not a Subtensor runtime the WebLoCo adapter knows (it was written against opentensor/subtensor's runtime of 2026)`,
      );
    }
  }

  /** A runtime from a metadata blob alone (SCALE bytes, starting with "meta"), in a fresh registry. */
  static fromMetadata(bytes: Uint8Array | Hex): SubtensorRuntime {
    const registry = new TypeRegistry();
    const metadata = new Metadata(registry, typeof bytes === 'string' ? hexToU8a(bytes) : bytes);
    registry.setMetadata(metadata, undefined, SUBTENSOR_SIGNED_EXTENSIONS);
    return new SubtensorRuntime(registry, metadata);
  }

  #call(pallet: string, call: string): CallBuilder | undefined {
    return this.#calls[lowerFirst(pallet)]?.[camel(call)];
  }

  #entry(pallet: string, item: string): StorageFunction | undefined {
    return this.#storage[lowerFirst(pallet)]?.[lowerFirst(item)];
  }

  #required(name: StorageName): StorageFunction {
    const [pallet, item] = name.split('.') as [string, string];
    return this.#entry(pallet, item)!;
  }

  // Calls. Argument types follow the metadata: NetUid is u16, hotkeys AccountId32.

  /** SubtensorModule.burned_register(netuid, hotkey): the signer (a coldkey) pays the burn. */
  burnedRegister(netuid: number, hotkey: string): Call {
    return this.#call('SubtensorModule', 'burned_register')!(netuid, hotkey);
  }

  /** Commitments.set_commitment(netuid, {fields}), each field a `BigRaw` of at most 512 bytes. */
  setCommitment(netuid: number, fields: readonly Uint8Array[]): Call {
    for (const [i, field] of fields.entries()) {
      if (field.length > MAX_COMMITMENT_FIELD_BYTES)
        throw new RangeError(`commitment field ${i} is ${field.length} bytes; a BigRaw field holds at most ${MAX_COMMITMENT_FIELD_BYTES}`);
    }
    return this.#call('Commitments', 'set_commitment')!(netuid, { fields: fields.map((field) => ({ BigRaw: u8aToHex(field) })) });
  }

  /** SubtensorModule.set_weights(netuid, dests, weights, version_key). */
  setWeights(netuid: number, uids: readonly number[], weights: readonly number[], versionKey: bigint): Call {
    return this.#call('SubtensorModule', 'set_weights')!(netuid, uids, weights, versionKey);
  }

  /** SubtensorModule.commit_weights(netuid, commit_hash). */
  commitWeights(netuid: number, commitHash: Hex): Call {
    return this.#call('SubtensorModule', 'commit_weights')!(netuid, commitHash);
  }

  /** SubtensorModule.reveal_weights(netuid, uids, values, salt, version_key). */
  revealWeights(netuid: number, uids: readonly number[], values: readonly number[], salt: readonly number[], versionKey: bigint): Call {
    return this.#call('SubtensorModule', 'reveal_weights')!(netuid, uids, values, salt, versionKey);
  }

  /**
   * The hash commit_weights takes: BlakeTwo256 of the SCALE tuple (hotkey, netuid index, uids,
   * values, salt, version_key) (pallets/subtensor/src/subnets/weights.rs:1336); for the main
   * mechanism the netuid index is the netuid (subnets/mechanism.rs:35).
   */
  weightsCommitHash(
    hotkey: string,
    netuid: number,
    uids: readonly number[],
    values: readonly number[],
    salt: readonly number[],
    versionKey: bigint,
  ): Hex {
    const tuple = this.registry.createType('(AccountId32, u16, Vec<u16>, Vec<u16>, Vec<u16>, u64)', [
      hotkey,
      netuid,
      uids,
      values,
      salt,
      versionKey,
    ]);
    return u8aToHex(blake2AsU8a(tuple.toU8a(), 256));
  }

  // Storage.

  /** The full storage key of `name` at `args` (e.g. key('SubtensorModule.Keys', netuid, uid)). */
  key(name: StorageName, ...args: unknown[]): Hex {
    // The decorated function gives the key with a SCALE compact length in front (as a Bytes value).
    return u8aToHex(compactStripLength(this.#required(name)(...args))[1]);
  }

  /** The key prefix shared by every entry of `name` under the leading `args` (e.g. a netuid). */
  keyPrefix(name: StorageName, ...args: unknown[]): Hex {
    return u8aToHex(this.#required(name).keyPrefix(...args));
  }

  /**
   * Decodes the raw value RPC state_getStorage gave for `name` (null: no value stored). An absent
   * OptionQuery value is undefined; an absent ValueQuery value is the item's declared default.
   */
  decode(name: StorageName, value: Hex | null): Codec | undefined {
    const entry = this.#required(name);
    if (value === null && entry.meta.modifier.isOptional) return undefined;
    const typeId = entry.meta.type.isPlain ? entry.meta.type.asPlain : entry.meta.type.asMap.value;
    return this.registry.createType(
      this.registry.createLookupType(typeId.toNumber()),
      value === null ? entry.meta.fallback : hexToU8a(value),
    );
  }

  /** The hotkey (SS58, prefix 42) a CommitmentOf key is for: the key ends in Twox64Concat(account). */
  hotkeyOfCommitmentKey(key: Hex): string {
    const bytes = hexToU8a(key);
    if (bytes.length !== 32 + 2 + 8 + 32) throw new Error(`${key} is not a Commitments.CommitmentOf(netuid, account) key`);
    return encodeAddress(bytes.subarray(bytes.length - 32), SS58_PREFIX);
  }

  /** Decodes a CommitmentOf value (undefined when none is stored). */
  commitment(value: Hex | null): StoredCommitment | undefined {
    const registration = this.decode('Commitments.CommitmentOf', value) as unknown as
      { block: { toNumber(): number }; info: { fields: { isBigRaw: boolean; asBigRaw: Codec; type: string; value: Codec }[] } } | undefined;
    if (registration === undefined) return undefined;
    return {
      block: registration.block.toNumber(),
      fields: registration.info.fields.map((field) => {
        if (field.type === 'BigRaw') return field.value.toU8a(true);
        if (/^Raw\d+$/.test(field.type)) return field.value.toU8a(true);
        return undefined;
      }),
    };
  }

  /** The ss58 address of an AccountId32 storage value. */
  address(value: Codec): string {
    return encodeAddress(value.toU8a(true), SS58_PREFIX);
  }
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** snake_case → camelCase, as @polkadot/types names decorated calls. */
function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
