// `npm run bench:codec`: SparseLoCo's compression on each preset's full parameter set: the wire
// ratio against dense fp32, and the throughput of compress (error feedback + top-k + 2-bit
// quantization), encode and decode, on the GPU compressor (Dawn) and the CPU one. JSON lines on
// stdout, a table on stderr. Both compressors start from e = 0 on the same Δ, so their first
// payloads must be byte-identical; the bench checks it and says so (`identical`).
//
// Δ is seeded uniform noise (xoshiro128**), not a real pseudo-gradient: top-k and the codec cost
// the same whatever the values, and uniform positions are the codec's worst case for the index
// stream (a trained model's Δ is more structured, so real payloads are a little smaller).
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { parseArgs } from '../src/cli/args.ts';
import type { GpuRuntime } from '../src/gpu/runtime.ts';
import { preset, PRESETS, type PresetName } from '../src/model/config.ts';
import { Xoshiro128 } from '../src/model/init.ts';
import { parameterLayout, type ParameterLayout } from '../src/model/layout.ts';
import { decodeUpdate, encodeUpdate, wireLayoutOf } from '../src/sparseloco/codec.ts';
import { compressLayout, ERROR_FEEDBACK_BETA } from '../src/sparseloco/compress.ts';
import type { CompressedUpdate } from '../src/sparseloco/types.ts';
import { printTable } from './browser.ts';

type Path = 'gpu' | 'cpu';

interface Timing {
  /** Mean milliseconds of one call. */
  ms: number;
  reps: number;
}

/**
 * The mean time of `fn` over as many calls as fit in `budgetMs` (at most 20). `firstMs` is a call
 * already made (it compiled and warmed everything up); when it alone exceeds the budget it is the
 * measurement, so a slow path costs two calls, not more.
 */
async function timeIt(fn: () => unknown, firstMs: number, budgetMs: number): Promise<Timing> {
  if (firstMs >= budgetMs) return { ms: firstMs, reps: 1 };
  const reps = Math.max(1, Math.min(20, Math.floor(budgetMs / Math.max(firstMs, 0.01))));
  const started = performance.now();
  for (let i = 0; i < reps; i++) await fn();
  return { ms: (performance.now() - started) / reps, reps };
}

/** Milliseconds of one call of `fn`, and its result. */
async function once<T>(fn: () => T | Promise<T>): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await fn();
  return { ms: performance.now() - started, result };
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
  layout.arenaFloats.forEach((floats, i) => rt.write(deltas[i]!, delta.subarray(layout.arenaStart[i]!, layout.arenaStart[i]! + floats)));
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

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { presets: 'string', paths: 'string', 'budget-ms': 'number', seed: 'number' });
  const presets = (args.presets ?? 'tiny,small,base').split(',') as PresetName[];
  for (const name of presets) if (!(name in PRESETS)) throw new Error(`--presets: unknown preset '${name}'; choose from ${Object.keys(PRESETS).join(', ')}`);
  const paths = (args.paths ?? 'gpu,cpu').split(',') as Path[];
  for (const p of paths) if (p !== 'gpu' && p !== 'cpu') throw new Error(`--paths: unknown path '${p}'; use gpu, cpu or gpu,cpu`);
  const budgetMs = args['budget-ms'] ?? 2000;

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
  try {
    for (const name of presets) {
      const config = preset(name);
      // The GPU's limits decide how the parameters split into arenas; the CPU path uses the same layout.
      const layout = parameterLayout(config, rt?.limits);
      const wire = wireLayoutOf(layout.tensors);
      const delta = syntheticPseudoGradient(layout, args.seed ?? 0);
      const denseBytes = layout.parameterCount * 4;
      const origin = { runId: 'bench-codec', round: 0, baseModelHash: new Uint8Array(32) };
      const firstPayloads = new Map<Path, string>();
      for (const path of paths) {
        // A software adapter takes many minutes over base's 124M parameters: opt in with --presets.
        if (path === 'gpu' && software && name === 'base' && args.presets === undefined) {
          console.log(JSON.stringify({ kind: 'skipped', preset: name, path, reason: 'software adapter: pass --presets base to include it' }));
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
          const compress = await timeIt(async () => (update = await compressor.compress()), second.ms, budgetMs);
          const firstEncode = await once(() => encodeUpdate(origin, update, wire));
          const encoded = firstEncode.result;
          const encode = await timeIt(() => encodeUpdate(origin, update, wire), firstEncode.ms, budgetMs);
          const firstDecode = await once(() => decodeUpdate(encoded, wire, { expect: origin }));
          const decode = await timeIt(() => decodeUpdate(encoded, wire, { expect: origin }), firstDecode.ms, budgetMs);
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
      rt?.trimPool();
    }
    printTable(table);
  } finally {
    rt?.destroy();
  }
}
