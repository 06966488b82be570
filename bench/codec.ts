// `npm run bench:codec`: SparseLoCo's compression on each preset's full parameter set: the wire
// ratio against dense fp32, and the throughput of compress (error feedback + top-k + 2-bit
// quantization), encode and decode, on the GPU compressor (Dawn) and the CPU one; and the model
// hash H_w over the preset's θ (the other host work of a round). JSON lines on stdout, tables on
// stderr. Both compressors start from e = 0 on the same Δ, so their first payloads must be
// byte-identical; the bench checks it and says so (`identical`). `--hash-js` also times the
// pure-JS blake3 (@noble/hashes) that the model hash falls back to, on the same bytes.
//
// Times are wall-clock means; encode and decode also give the process's CPU time per call
// (`encodeCpuMs`, `decodeCpuMs`), which other jobs on a shared machine inflate less.
//
// Δ is seeded uniform noise (xoshiro128**), not a real pseudo-gradient: top-k and the codec cost
// the same whatever the values, and uniform positions are the codec's worst case for the index
// stream (a trained model's Δ is more structured, so real payloads are a little smaller).
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { UsageError, type CommandSpec, type OptionValues } from '../src/cli/args.ts';
import type { GpuRuntime } from '../src/gpu/runtime.ts';
import { preset, PRESETS, type PresetName } from '../src/model/config.ts';
import { Xoshiro128 } from '../src/model/init.ts';
import { blake3Ready } from '../src/base/blake3.ts';
import { modelHashBytes } from '../src/model/hash.ts';
import { parameterLayout, type ParameterLayout } from '../src/model/layout.ts';
import { decodeUpdate, encodeUpdate, wireLayoutOf } from '../src/sparseloco/codec.ts';
import { compressLayout, ERROR_FEEDBACK_BETA } from '../src/sparseloco/compress.ts';
import type { CompressedUpdate } from '../src/sparseloco/types.ts';
import { printTable } from './browser.ts';

type Path = 'gpu' | 'cpu';

interface Timing {
  /** Mean milliseconds of one call. */
  ms: number;
  /** Mean milliseconds of this process's CPU time (user + system) per call. */
  cpuMs: number;
  reps: number;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/**
 * The mean time of `fn` over as many calls as fit in `budgetMs` (at most 20). `firstMs` is a call
 * already made (it compiled and warmed everything up); when it alone exceeds the budget it is the
 * measurement, so a slow path costs two calls, not more.
 */
async function timeIt(fn: () => unknown, first: { ms: number; cpuMs: number }, budgetMs: number): Promise<Timing> {
  if (first.ms >= budgetMs) return { ...first, reps: 1 };
  const reps = Math.max(1, Math.min(20, Math.floor(budgetMs / Math.max(first.ms, 0.01))));
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < reps; i++) await fn();
  return { ms: (performance.now() - started) / reps, cpuMs: cpuMsSince(cpu) / reps, reps };
}

/** Milliseconds (wall and CPU) of one call of `fn`, and its result. */
async function once<T>(fn: () => T | Promise<T>): Promise<{ ms: number; cpuMs: number; result: T }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await fn();
  return { ms: performance.now() - started, cpuMs: cpuMsSince(cpu), result };
}

/** A seeded Δ of uniform values in (−1e-3, 1e-3), laid out like the parameters (padding 0). */
function syntheticPseudoGradient(layout: ParameterLayout, seed: number): Float32Array {
  const delta = new Float32Array(layout.totalFloats);
  const bits = new Xoshiro128(blake3(utf8ToBytes(`webloco-bench-codec:${seed}`)));
  for (const t of layout.tensors) {
    for (let i = t.offset; i < t.offset + t.size; i++) delta[i] = ((bits.nextU32() + 0.5) / 2 ** 31 - 1) * 1e-3;
  }
  return delta;
}

/** Compresses Δ into e (e ← β·e + Δ …) on one path; `compress()` may be called repeatedly. */
interface Compressor {
  compress(): Promise<CompressedUpdate>;
  destroy(): void;
}

function cpuCompressor(layout: ParameterLayout, delta: Float32Array): Compressor {
  const error = new Float32Array(layout.totalFloats);
  return {
    async compress() {
      return compressLayout(error, delta, ERROR_FEEDBACK_BETA, layout.tensors);
    },
    destroy() {},
  };
}

async function gpuCompressor(rt: GpuRuntime, layout: ParameterLayout, delta: Float32Array): Promise<Compressor> {
  const { STORAGE_USAGE } = await import('../src/gpu/runtime.ts');
  const { COMPRESS_PROGRAMS } = await import('../src/kernels/compress.ts');
  const { arenaGroups, compressBatchOnGpu } = await import('../src/sparseloco/gpu-compress.ts');
  await rt.compileAll(COMPRESS_PROGRAMS);
  const arena = (floats: number, label: string) => rt.device.createBuffer({ label, size: Math.max(floats, 4) * 4, usage: STORAGE_USAGE });
  const errors = layout.arenaFloats.map((floats, i) => arena(floats, `bench-error-${i}`));
  const deltas = layout.arenaFloats.map((floats, i) => arena(floats, `bench-delta-${i}`));
  layout.arenaFloats.forEach((floats, i) => rt.write(deltas[i]!, delta.subarray(layout.arenaStart[i], layout.arenaStart[i]! + floats)));
  const groups = arenaGroups(layout.tensors, errors, deltas, rt.limits.maxStorageBufferBindingSize);
  return {
    async compress() {
      return { tensors: await compressBatchOnGpu(rt, { beta: ERROR_FEEDBACK_BETA, groups }) };
    },
    destroy() {
      rt.flush();
      for (const b of [...errors, ...deltas]) b.destroy();
    },
  };
}

export const command = {
  name: 'codec',
  program: 'bench',
  summary: "SparseLoCo compression per preset: wire ratio against dense fp32, compress/encode/decode throughput, the model hash's cost",
  options: {
    presets: {
      kind: 'string',
      shownDefault: 'tiny,small,base',
      help: "comma-separated presets to measure (base's GPU path on a software adapter only when named here)",
    },
    paths: { kind: 'string', default: 'gpu,cpu', help: 'compressors to time: gpu, cpu or gpu,cpu' },
    'budget-ms': { kind: 'number', default: 2000, help: 'time budget of each measurement (ms)' },
    seed: { kind: 'number', default: 0, help: 'seed of the synthetic pseudo-gradient Δ' },
    'hash-js': { kind: 'boolean', help: 'also time the pure-JS BLAKE3 (@noble/hashes) on the model-hash bytes' },
  },
  details: ['JSON lines on stdout, tables on stderr.'],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const presets = (args.presets ?? 'tiny,small,base').split(',') as PresetName[];
  for (const name of presets)
    if (!(name in PRESETS)) throw new UsageError(`--presets: unknown preset '${name}'; choose from ${Object.keys(PRESETS).join(', ')}`);
  const paths = args.paths.split(',').map((p): Path => {
    if (p !== 'gpu' && p !== 'cpu') throw new UsageError(`--paths: unknown path '${p}'; use gpu, cpu or gpu,cpu`);
    return p;
  });
  const budgetMs = args['budget-ms'];

  let rt: GpuRuntime | null = null;
  let software = false;
  if (paths.includes('gpu')) {
    const { nodeGpuDevice } = await import('../src/gpu/node.ts');
    const { GpuRuntime } = await import('../src/gpu/runtime.ts');
    rt = new GpuRuntime(await nodeGpuDevice());
    const adapter = rt.gpu.adapter;
    console.log(JSON.stringify({ kind: 'adapter', ...adapter, features: undefined }));
    software = adapter.isFallbackAdapter || adapter.architecture === 'swiftshader';
  }

  const table: Record<string, string | number>[] = [];
  const hashTable: Record<string, string | number>[] = [];
  try {
    for (const name of presets) {
      const config = preset(name);
      // The GPU's limits decide how the parameters split into arenas; the CPU path uses the same layout.
      const layout = parameterLayout(config, rt?.limits);
      const wire = wireLayoutOf(layout.tensors);
      const delta = syntheticPseudoGradient(layout, args.seed);
      const denseBytes = layout.parameterCount * 4;
      const origin = { runId: 'bench-codec', round: 0, baseModelHash: new Uint8Array(32) };
      const firstPayloads = new Map<Path, string>();
      for (const path of paths) {
        // A software adapter takes many minutes over base's 124M parameters: opt in with --presets.
        if (path === 'gpu' && software && name === 'base' && args.presets === undefined) {
          console.log(
            JSON.stringify({ kind: 'skipped', preset: name, path, reason: 'software adapter: pass --presets base to include it' }),
          );
          continue;
        }
        const compressor = path === 'gpu' ? await gpuCompressor(rt!, layout, delta) : cpuCompressor(layout, delta);
        try {
          // The first call starts from e = 0: its payload is the one both paths must agree on.
          // It also compiles the pipelines, so for a fast path it is a warm-up and not timed.
          const first = await once(() => compressor.compress());
          const payload = encodeUpdate(origin, first.result, wire);
          firstPayloads.set(path, bytesToHex(blake3(payload)));
          const second = await once(() => compressor.compress());
          let update = second.result;
          const compress = await timeIt(async () => (update = await compressor.compress()), second, budgetMs);
          const firstEncode = await once(() => encodeUpdate(origin, update, wire));
          const encoded = firstEncode.result;
          const encode = await timeIt(() => encodeUpdate(origin, update, wire), firstEncode, budgetMs);
          const firstDecode = await once(() => decodeUpdate(encoded, wire, { expect: origin }));
          const decode = await timeIt(() => decodeUpdate(encoded, wire, { expect: origin }), firstDecode, budgetMs);
          const mParams = (t: Timing) => layout.parameterCount / t.ms / 1e3;
          const row = {
            kind: 'codec',
            preset: name,
            path,
            parameters: layout.parameterCount,
            denseBytes,
            payloadBytes: payload.length,
            ratio: denseBytes / payload.length,
            compressMs: compress.ms,
            encodeMs: encode.ms,
            decodeMs: decode.ms,
            encodeCpuMs: encode.cpuMs,
            decodeCpuMs: decode.cpuMs,
            compressMParamsPerS: mParams(compress),
            encodeMParamsPerS: mParams(encode),
            decodeMParamsPerS: mParams(decode),
            reps: { compress: compress.reps, encode: encode.reps, decode: decode.reps },
          };
          console.log(JSON.stringify(row));
          table.push({
            preset: name,
            path,
            params: layout.parameterCount,
            'payload B': payload.length,
            ratio: row.ratio,
            'compress ms': compress.ms,
            'encode ms': encode.ms,
            'decode ms': decode.ms,
            'enc+dec ms': encode.ms + decode.ms,
            'enc+dec cpu ms': encode.cpuMs + decode.cpuMs,
            'compress Mp/s': row.compressMParamsPerS,
            'encode Mp/s': row.encodeMParamsPerS,
            'decode Mp/s': row.decodeMParamsPerS,
          });
        } finally {
          compressor.destroy();
        }
      }
      if (firstPayloads.size === 2) {
        const identical = firstPayloads.get('gpu') === firstPayloads.get('cpu');
        console.log(JSON.stringify({ kind: 'gpu-cpu-agreement', preset: name, identical, payloadHash: firstPayloads.get('cpu') }));
        if (!identical) process.exitCode = 1;
      }
      hashTable.push(...(await timeModelHash(name, layout, delta, budgetMs, args['hash-js'] ?? false)));
      rt?.trimPool();
    }
    printTable(table);
    printTable(hashTable);
  } finally {
    rt?.destroy();
  }
}

/**
 * The model hash H_w (src/model/hash.ts) over the preset's θ (Δ's values stand in for it: the hash
 * costs the same whatever the floats), as a round computes it; with `withJs`, @noble's blake3 over
 * the same bytes too (what the model hash falls back to where WASM cannot load).
 */
async function timeModelHash(
  name: PresetName,
  layout: ParameterLayout,
  theta: Float32Array,
  budgetMs: number,
  withJs: boolean,
): Promise<Record<string, string | number>[]> {
  const implementation = await blake3Ready();
  const views = layout.tensors.map((t) => theta.subarray(t.offset, t.offset + t.size));
  const bytes = layout.parameterCount * 4;
  const first = await once(() => modelHashBytes(layout.tensors, views));
  const timing = await timeIt(() => modelHashBytes(layout.tensors, views), first, budgetMs);
  const runs: { implementation: string; timing: Timing; hash: string }[] = [
    { implementation: `${implementation} (modelHash)`, timing, hash: bytesToHex(first.result) },
  ];
  if (withJs) {
    // The same byte string as modelHashBytes hashes (docs/PROTOCOL.md), fed to @noble tensor by tensor.
    const js = await once(() => {
      const hasher = blake3.create();
      hasher.update(new TextEncoder().encode('WLCO model v1'));
      hasher.update(blake3(utf8ToBytes(JSON.stringify(layout.tensors.map(({ name, shape }) => [name, [...shape]])))));
      for (const v of views) hasher.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      return hasher.digest();
    });
    runs.push({ implementation: 'js (@noble/hashes)', timing: { ...js, reps: 1 }, hash: bytesToHex(js.result) });
  }
  return runs.map(({ implementation, timing, hash }) => {
    const row = {
      kind: 'model-hash',
      preset: name,
      implementation,
      parameters: layout.parameterCount,
      bytes,
      ms: timing.ms,
      mbPerS: bytes / 1e6 / (timing.ms / 1e3),
      reps: timing.reps,
      hash,
    };
    console.log(JSON.stringify(row));
    return {
      preset: name,
      'model hash': implementation,
      params: layout.parameterCount,
      MB: bytes / 1e6,
      ms: timing.ms,
      'MB/s': row.mbPerS,
    };
  });
}
