// The GPU runtime every kernel runs on: buffer pool, pipeline cache, batched dispatch in
// submissions bounded in time (submissions.ts), readback and GPU timestamps. Environment-free:
// give it a GpuDevice from browser.ts or node.ts.
import type { GpuDevice } from './device.ts';
import { GpuCommandError, GpuLimitError } from './errors.ts';
import {
  DEFAULT_SUBMISSION_BUDGET_MS,
  dispatchUnits,
  SubmissionPlanner,
  SubmissionWork,
  type SubmissionStats,
  type WorkKind,
} from './submissions.ts';

/** How a kernel sees each binding, in binding order; uniforms come last. */
export type BindingKind = 'read' | 'write' | 'uniform';

export interface Program {
  /** Unique name of this shader variant; with entryPoint and constants it is the cache key. */
  name: string;
  code: string;
  entryPoint: string;
  bindings: readonly BindingKind[];
  /** WGSL `override` constants (workgroup sizes, tile shapes). */
  constants?: Readonly<Record<string, number>>;
}

export const STORAGE_USAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST (numbers: no globals needed)
const MAP_READ = 0x1;
const COPY_DST = 0x8;
const UNIFORM = 0x40;
const QUERY_RESOLVE = 0x200;

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment is at most 256 on every adapter
const UNIFORM_ARENA_SLOTS = 1024;

export type UniformData = ArrayBufferView | readonly number[];

/**
 * What one dispatch does, for the profile (`startProfile`) and the submission budget: the kernel's
 * name in the report (default: the program's name), its floating-point operations and the bytes it
 * must move to and from memory at least (each operand read once, each result written once), and
 * the shape of the whole operation it is part of (`M×N×K` of a matmul, for instance): the budget
 * learns a rate per kernel and shape, since one kernel runs some shapes many times slower per
 * FLOP than others (on SwiftShader here the head's weight gradient, 10× the layers').
 */
export interface DispatchCost {
  label?: string;
  flops?: number;
  bytes?: number;
  shape?: string;
}

/** One profiled dispatch: its label, cost and GPU time from its own pass's timestamps. */
export interface ProfiledDispatch {
  label: string;
  flops: number;
  bytes: number;
  ms: number;
  /** The queue submission it went out in (the runtime's submitCount then), and that work's kind. */
  submission: number;
  kind: WorkKind;
  /** What the submission planner expected it to take (submissions.ts). */
  estimatedMs: number;
}

/** Timestamp queries per query set (WebGPU's maximum), two per profiled dispatch. */
const PROFILE_QUERIES = 4096;

/** Optional shader features the kernels use where the device has them; each can be forced off. */
export interface RuntimeOptions {
  /** Subgroup operations in reductions (default: where the device has `subgroups`). */
  subgroups?: boolean;
  /**
   * The model's f16 path: matmul operands in f16, summed in f32, with f32 master weights and
   * optimizer state. Off unless asked for: no real GPU has yet measured it faster than f32 (it
   * unpacks halves and multiplies in f32, plus a cast pass per operand). The halves are stored
   * packed in pairs (core WGSL), so the path can be forced on anywhere, as its tests do.
   */
  f16?: boolean;
  /**
   * The longest a single queue submission should run on the GPU (default 250 ms): work is cut
   * into more submissions, and oversized matmuls, AdamW steps and gradient norms into slices,
   * until each fits (submissions.ts). Infinity: one submission per flush, as recorded.
   */
  submissionBudgetMs?: number;
}

/** The submission being recorded: what the planner and the measurement need to know of it. */
interface OpenSubmission {
  work: SubmissionWork;
  /** Its passes' timestamps (begin of the first, end of the last), where measured by timestamps. */
  queries: GPUQuerySet | null;
}

function openSubmission(kind: WorkKind): OpenSubmission {
  return { work: new SubmissionWork(kind), queries: null };
}

export class GpuRuntime {
  readonly device: GPUDevice;
  readonly gpu: GpuDevice;
  /**
   * Whether kernels use subgroup operations: the device has them, with a power-of-two minimum
   * size the reductions can rely on, and the options did not turn them off.
   */
  readonly subgroups: boolean;
  /** Whether models on this runtime take the f16 path (RuntimeOptions.f16). */
  readonly f16: boolean;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly compiling = new Map<string, Promise<GPUComputePipeline>>();
  /** While collectPrograms runs: the programs its dispatches would have used, by cache key. */
  private collecting: Map<string, Program> | null = null;
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly pool = new Map<string, GPUBuffer[]>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniformArena: GPUBuffer;
  private readonly uniformStaging = new Uint8Array(UNIFORM_SLOT * UNIFORM_ARENA_SLOTS);
  private uniformSlots = 0;
  private timestampQuery: GPUQuerySet | null = null;
  private timedPass = false;
  /** While profiling: each dispatch's label and cost, its query set and slot. */
  private profiling: {
    dispatches: (Omit<ProfiledDispatch, 'ms'> & { resolved: number; slot: number })[];
    querySet: GPUQuerySet;
    used: number;
    /** Resolved query sets in order, each with its buffer of timestamps. */
    resolved: { querySet: GPUQuerySet; buffer: GPUBuffer; count: number }[];
  } | null = null;
  /** Dispatches issued since creation (for reports and tests). */
  dispatchCount = 0;
  submitCount = 0;
  /** Where submissions end, learned per kind of work from their measured times. */
  private readonly planner: SubmissionPlanner;
  private kind: WorkKind = 'other';
  private open: OpenSubmission = openSubmission('other');
  /** Two-slot timestamp query sets of measured submissions whose times have been read. */
  private readonly freeQuerySets: GPUQuerySet[] = [];
  /** Where every measured submission resolves its timestamps, before copying them out (queue order keeps them apart). */
  private submissionResolve: GPUBuffer | null = null;
  /**
   * A spare buffer a submission's timestamps are read through: one is kept, more are made while
   * many submissions are in flight and destroyed when read, so the memory a runtime holds does
   * not depend on how its work was split.
   */
  private spareTimestampReadback: GPUBuffer | null = null;
  /** Measurements still on their way back, so submissionStats() can wait for them. */
  private readonly measuring = new Set<Promise<void>>();
  /** Without timestamps: when the previous submission was seen done (wall-time measurement). */
  private lastDoneMs = 0;

  constructor(gpu: GpuDevice, options: RuntimeOptions = {}) {
    this.gpu = gpu;
    this.device = gpu.device;
    const subgroupsUsable = gpu.hasSubgroups && gpu.subgroupMinSize >= 2 && (gpu.subgroupMinSize & (gpu.subgroupMinSize - 1)) === 0;
    if (options.subgroups && !subgroupsUsable) {
      throw new Error(
        `subgroups were asked for, but this device ${gpu.hasSubgroups ? `reports a minimum subgroup size of ${gpu.subgroupMinSize}` : "has no 'subgroups' feature"}`,
      );
    }
    this.subgroups = options.subgroups ?? subgroupsUsable;
    this.f16 = options.f16 ?? false;
    this.planner = new SubmissionPlanner(options.submissionBudgetMs ?? DEFAULT_SUBMISSION_BUDGET_MS);
    this.uniformArena = this.device.createBuffer({
      label: 'uniform-arena',
      size: this.uniformStaging.byteLength,
      usage: UNIFORM | COPY_DST,
    });
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  // ---- buffers -------------------------------------------------------------------------------

  /** A storage buffer from the size-keyed pool (contents undefined). */
  acquire(byteSize: number, label = 'storage', usage = STORAGE_USAGE): GPUBuffer {
    const size = alignTo(Math.max(byteSize, 4), 16);
    if (size > this.limits.maxBufferSize) {
      throw new GpuLimitError(`${label}: ${size} bytes exceeds this GPU's maxBufferSize ${this.limits.maxBufferSize}; split the tensor.`);
    }
    const free = this.pool.get(`${size}:${usage}`);
    const reused = free?.pop();
    if (reused) return reused;
    return this.device.createBuffer({ label, size, usage });
  }

  /** Returns a buffer to the pool. Queue order makes reuse by later work safe. */
  release(buffer: GPUBuffer): void {
    const key = `${buffer.size}:${buffer.usage}`;
    let free = this.pool.get(key);
    if (!free) this.pool.set(key, (free = []));
    free.push(buffer);
  }

  /** Destroys every pooled buffer (the pool keeps memory alive otherwise). */
  trimPool(): void {
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
  }

  /** A pooled storage buffer holding `data`. */
  upload(data: ArrayBufferView, label = 'upload'): GPUBuffer {
    const buffer = this.acquire(data.byteLength, label);
    this.write(buffer, data);
    return buffer;
  }

  /** Writes after everything dispatched so far (the pending batch is submitted first). */
  write(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.flush();
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(buffer, byteOffset, bytes);
    } else {
      const padded = new Uint8Array(alignTo(bytes.byteLength, 4));
      padded.set(bytes);
      this.device.queue.writeBuffer(buffer, byteOffset, padded);
    }
  }

  /** Copies `byteLength` bytes between buffers in queue order with the dispatches around it. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, byteLength: number): void {
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, byteLength);
  }

  /** Zero-fills `byteLength` bytes (a multiple of 4) in queue order with the dispatches around it. */
  clear(buffer: GPUBuffer, byteOffset = 0, byteLength = buffer.size - byteOffset): void {
    this.endPass();
    this.ensureEncoder().clearBuffer(buffer, byteOffset, byteLength);
  }

  /** Reads a buffer back after all work issued so far. */
  async read(buffer: GPUBuffer, byteOffset = 0, byteLength = buffer.size - byteOffset): Promise<ArrayBuffer> {
    const staging = this.acquire(byteLength, 'readback', MAP_READ | COPY_DST);
    this.copy(buffer, byteOffset, staging, 0, alignTo(byteLength, 4));
    this.flush();
    await staging.mapAsync(1 /* GPUMapMode.READ */, 0, alignTo(byteLength, 4));
    const out = staging.getMappedRange(0, alignTo(byteLength, 4)).slice(0, byteLength);
    staging.unmap();
    this.release(staging);
    this.throwIfRejected();
    return out;
  }

  async readF32(buffer: GPUBuffer, offsetElems = 0, count?: number): Promise<Float32Array> {
    const n = count ?? buffer.size / 4 - offsetElems;
    return new Float32Array(await this.read(buffer, offsetElems * 4, n * 4));
  }

  async readU32(buffer: GPUBuffer, offsetElems = 0, count?: number): Promise<Uint32Array> {
    const n = count ?? buffer.size / 4 - offsetElems;
    return new Uint32Array(await this.read(buffer, offsetElems * 4, n * 4));
  }

  // ---- pipelines -----------------------------------------------------------------------------

  private key(p: Program): string {
    const constants = p.constants
      ? Object.entries(p.constants)
          .sort()
          .map(([k, v]) => `${k}=${v}`)
          .join(',')
      : '';
    return `${p.name}#${p.entryPoint}#${constants}`;
  }

  private layout(bindings: readonly BindingKind[]): GPUBindGroupLayout {
    const key = bindings.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = bindings.map((kind, binding) => ({
        binding,
        visibility: 4 /* GPUShaderStage.COMPUTE */,
        buffer: { type: kind === 'read' ? 'read-only-storage' : kind === 'write' ? 'storage' : 'uniform' },
      }));
      layout = this.device.createBindGroupLayout({ label: key, entries });
      this.layouts.set(key, layout);
    }
    return layout;
  }

  private descriptor(p: Program): GPUComputePipelineDescriptor {
    const module = this.device.createShaderModule({ label: p.name, code: p.code });
    return {
      label: p.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.layout(p.bindings)] }),
      compute: { module, entryPoint: p.entryPoint, constants: p.constants },
    };
  }

  /** Compiles asynchronously; concurrent requests for one key share a single compile. */
  compile(p: Program): Promise<GPUComputePipeline> {
    const key = this.key(p);
    const ready = this.pipelines.get(key);
    if (ready) return Promise.resolve(ready);
    let pending = this.compiling.get(key);
    if (!pending) {
      pending = this.device.createComputePipelineAsync(this.descriptor(p)).then((pipeline) => {
        this.pipelines.set(key, pipeline);
        this.compiling.delete(key);
        return pipeline;
      });
      this.compiling.set(key, pending);
    }
    return pending;
  }

  /** Compiles many programs in parallel (call before a hot loop). */
  async compileAll(programs: readonly Program[]): Promise<void> {
    await Promise.all(programs.map((p) => this.compile(p)));
  }

  /**
   * The distinct programs `record` dispatches, for compileAll before a hot loop. `record` runs as
   * usual (its writes, copies and clears happen) except that each dispatch is only noted: nothing
   * is compiled, recorded or run for it. Warming up by running the real calls this way keeps the
   * list from drifting away from what they dispatch.
   */
  collectPrograms(record: () => void): Program[] {
    if (this.collecting) throw new Error('collectPrograms: already collecting; call it once around all the work to warm up.');
    const collected = new Map<string, Program>();
    this.collecting = collected;
    try {
      record();
    } finally {
      this.collecting = null;
    }
    return [...collected.values()];
  }

  /** Pipelines compiled or being compiled: unchanged by a warmed-up hot loop. */
  get pipelineCount(): number {
    let count = this.pipelines.size;
    for (const key of this.compiling.keys()) if (!this.pipelines.has(key)) count++;
    return count;
  }

  private pipeline(p: Program): GPUComputePipeline {
    const key = this.key(p);
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      // Not compiled ahead of time: compile synchronously rather than break the batch.
      pipeline = this.device.createComputePipeline(this.descriptor(p));
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  // ---- dispatch ------------------------------------------------------------------------------

  /**
   * Records one dispatch into the open batch. `buffers` follow `p.bindings` (without the
   * uniform); `uniforms` fills the trailing uniform binding. Nothing runs until flush/read.
   */
  dispatch(
    p: Program,
    buffers: readonly BufferRef[],
    uniforms: UniformData | null,
    groups: readonly [number, number?, number?],
    cost?: DispatchCost,
  ): void {
    const storageCount = p.bindings.filter((b) => b !== 'uniform').length;
    if (buffers.length !== storageCount) {
      throw new Error(`${p.name}: expected ${storageCount} buffers, got ${buffers.length}`);
    }
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    const [gx, gy = 1, gz = 1] = groups;
    if (gx > maxGroups || gy > maxGroups || gz > maxGroups) {
      throw new GpuLimitError(`${p.name}: dispatch ${gx}x${gy}x${gz} exceeds maxComputeWorkgroupsPerDimension ${maxGroups}`);
    }
    if (gx === 0 || gy === 0 || gz === 0) return;
    if (this.collecting) {
      this.collecting.set(this.key(p), p);
      return;
    }
    const label = cost?.label ?? p.name;
    const units = dispatchUnits(cost?.flops, cost?.bytes);
    const estimatedMs = this.planner.estimateMs(this.kind, label, cost?.shape, units);
    const open = this.open.work;
    if (open.dispatches > 0 && !this.timedPass && this.planner.overruns(open.estimatedMs + estimatedMs)) this.flush();
    const pipeline = this.pipeline(p);
    const entries: GPUBindGroupEntry[] = buffers.map((b, binding) =>
      'buffer' in b ? { binding, resource: { buffer: b.buffer, offset: b.offset, size: b.size } } : { binding, resource: { buffer: b } },
    );
    if (p.bindings[p.bindings.length - 1] === 'uniform') {
      if (!uniforms) throw new Error(`${p.name}: uniforms required`);
      entries.push({ binding: entries.length, resource: this.uniformSlot(uniforms) });
    }
    const bindGroup = this.device.createBindGroup({ layout: this.layout(p.bindings), entries });
    // After uniformSlot, which submits the open work when the arena is full.
    this.open.work.add(label, cost?.shape, units, estimatedMs);
    if (this.profiling) {
      this.profiledDispatch(pipeline, bindGroup, [gx, gy, gz], { label, flops: cost?.flops ?? 0, bytes: cost?.bytes ?? 0, estimatedMs });
      return;
    }
    const pass = this.ensurePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(gx, gy, gz);
    this.dispatchCount++;
  }

  // ---- bounded submissions -------------------------------------------------------------------

  /**
   * Records `record`'s work as `kind` (a training step, an evaluation, a compression): each kind's
   * submissions are timed and cut on their own, and a change of kind starts a new submission.
   * Synchronous, like the recording itself; kinds nest and the outer one comes back after.
   */
  work<T>(kind: WorkKind, record: () => T): T {
    const outer = this.kind;
    this.setKind(kind);
    try {
      return record();
    } finally {
      this.setKind(outer);
    }
  }

  private setKind(kind: WorkKind): void {
    if (kind === this.kind) return;
    if (this.open.work.dispatches > 0 && this.planner.splits && !this.timedPass) this.flush();
    this.kind = kind;
    if (this.open.work.dispatches === 0) this.open = openSubmission(kind);
  }

  /**
   * How many dispatches a launcher should cut a dispatch of `p` with this cost into (along a grid
   * axis the kernel can offset, or into slices of its buffers) so that each fits a submission; 1
   * when it fits, when splitting is off, or inside time().
   */
  slicesFor(p: Program, cost: DispatchCost): number {
    if (this.timedPass || this.collecting) return 1;
    return this.planner.slices(this.kind, cost.label ?? p.name, cost.shape, dispatchUnits(cost.flops, cost.bytes));
  }

  /** The submission budget in ms (Infinity: never split); settable, from the next dispatch on. */
  get submissionBudgetMs(): number {
    return this.planner.budgetMs;
  }

  set submissionBudgetMs(ms: number) {
    this.planner.budgetMs = ms;
  }

  /**
   * Every measured submission since creation or resetSubmissionStats(), per kind, with the
   * longest; waits for measurements still in flight (flush or read first: an open batch is not a
   * submission yet).
   */
  async submissionStats(): Promise<SubmissionStats> {
    await this.measured();
    return this.planner.report(this.gpu.hasTimestamps ? 'timestamp' : 'wall');
  }

  resetSubmissionStats(): void {
    this.planner.resetStats();
  }

  /** The timestamps of the open submission's passes: the first pass writes the begin, every pass the end. */
  private submissionTimestamps(): GPUComputePassTimestampWrites | undefined {
    if (!this.gpu.hasTimestamps || this.profiling) return undefined;
    const first = this.open.queries === null;
    this.open.queries ??= this.freeQuerySets.pop() ?? this.device.createQuerySet({ type: 'timestamp', count: 2 });
    return first
      ? { querySet: this.open.queries, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 }
      : { querySet: this.open.queries, endOfPassWriteIndex: 1 };
  }

  /**
   * Measures the submission just recorded (its encoder not yet finished) once it has run: by its
   * timestamps, else by the wall time from submit (or the previous one's end) to
   * onSubmittedWorkDone, which overstates it by the event loop's latency.
   */
  private measureSubmission(encoder: GPUCommandEncoder, open: OpenSubmission): () => void {
    const finish = (ms: number) => this.planner.observe(open.work, ms);
    const track = (measurement: Promise<void>) => {
      this.measuring.add(measurement);
      void measurement.finally(() => this.measuring.delete(measurement));
    };
    const queries = open.queries;
    if (queries) {
      this.submissionResolve ??= this.device.createBuffer({
        label: 'submission-timestamps',
        size: 16,
        usage: QUERY_RESOLVE | 0x4 /* COPY_SRC */,
      });
      const readback =
        this.spareTimestampReadback ??
        this.device.createBuffer({ label: 'submission-timestamps-read', size: 16, usage: MAP_READ | COPY_DST });
      this.spareTimestampReadback = null;
      encoder.resolveQuerySet(queries, 0, 2, this.submissionResolve, 0);
      encoder.copyBufferToBuffer(this.submissionResolve, 0, readback, 0, 16);
      return () =>
        track(
          readback.mapAsync(1 /* GPUMapMode.READ */, 0, 16).then(
            () => {
              const [begin, end] = new BigUint64Array(readback.getMappedRange(0, 16).slice(0));
              readback.unmap();
              if (this.spareTimestampReadback) readback.destroy();
              else this.spareTimestampReadback = readback;
              this.freeQuerySets.push(queries);
              // Timestamps may go backwards across passes on some drivers: such a submission teaches nothing.
              if (end! > begin!) finish(Number(end! - begin!) / 1e6);
            },
            () => {
              // The device was destroyed or lost before the measurement came back: nothing to learn.
            },
          ),
        );
    }
    if (this.gpu.hasTimestamps || open.work.dispatches === 0) return () => {};
    return () => {
      const submitted = performance.now();
      track(
        this.device.queue.onSubmittedWorkDone().then(
          () => {
            const done = performance.now();
            finish(done - Math.max(submitted, this.lastDoneMs));
            this.lastDoneMs = done;
          },
          () => {
            // The device is gone: nothing to learn.
          },
        ),
      );
    };
  }

  // ---- profile -------------------------------------------------------------------------------

  /**
   * Until stopProfile: every dispatch runs in a compute pass of its own whose timestamps bracket
   * it, so the profile gives each kernel's GPU time (the batching into one pass is given up while
   * profiling, which adds a pass boundary per dispatch). Needs the timestamp-query feature.
   */
  startProfile(): void {
    if (!this.gpu.hasTimestamps) {
      throw new Error(
        "profile: this adapter has no 'timestamp-query' feature, so dispatches cannot be timed on the GPU; " +
          'in Chrome, timestamps need a recent version (or chrome://flags/#enable-webgpu-developer-features)',
      );
    }
    if (this.profiling) throw new Error('profile: already profiling; call stopProfile() first');
    this.flush();
    this.profiling = {
      dispatches: [],
      querySet: this.device.createQuerySet({ type: 'timestamp', count: PROFILE_QUERIES }),
      used: 0,
      resolved: [],
    };
  }

  /** Ends the profile: every dispatch since startProfile with its GPU time, in issue order. */
  async stopProfile(): Promise<ProfiledDispatch[]> {
    const prof = this.profiling;
    if (!prof) throw new Error('profile: not profiling; call startProfile() first');
    this.resolveProfileQueries();
    this.profiling = null;
    const ticks: BigUint64Array[] = [];
    for (const r of prof.resolved) {
      ticks.push(new BigUint64Array(await this.read(r.buffer, 0, r.count * 8)));
      this.release(r.buffer);
      r.querySet.destroy();
    }
    prof.querySet.destroy();
    return prof.dispatches.map((d) => {
      const t = ticks[d.resolved]!;
      const begin = t[d.slot]!;
      const end = t[d.slot + 1]!;
      // Timestamps may go backwards across passes on some drivers: clamp rather than report < 0.
      const ms = end > begin ? Number(end - begin) / 1e6 : 0;
      return { label: d.label, flops: d.flops, bytes: d.bytes, ms, submission: d.submission, kind: d.kind, estimatedMs: d.estimatedMs };
    });
  }

  get isProfiling(): boolean {
    return this.profiling !== null;
  }

  private profiledDispatch(
    pipeline: GPUComputePipeline,
    bindGroup: GPUBindGroup,
    groups: [number, number, number],
    cost: Pick<ProfiledDispatch, 'label' | 'flops' | 'bytes' | 'estimatedMs'>,
  ): void {
    const prof = this.profiling!;
    if (prof.used + 2 > PROFILE_QUERIES) this.resolveProfileQueries();
    const slot = prof.used;
    prof.used += 2;
    prof.dispatches.push({ ...cost, submission: this.submitCount, kind: this.open.work.kind, resolved: prof.resolved.length, slot });
    this.endPass();
    const pass = this.ensureEncoder().beginComputePass({
      timestampWrites: { querySet: prof.querySet, beginningOfPassWriteIndex: slot, endOfPassWriteIndex: slot + 1 },
    });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...groups);
    pass.end();
    this.dispatchCount++;
  }

  /** Resolves the current query set's timestamps into a buffer and starts a fresh set. */
  private resolveProfileQueries(): void {
    const prof = this.profiling!;
    if (prof.used === 0) return;
    this.endPass();
    const buffer = this.acquire(prof.used * 8, 'profile-timestamps', QUERY_RESOLVE | 0x4 /* COPY_SRC */);
    this.ensureEncoder().resolveQuerySet(prof.querySet, 0, prof.used, buffer, 0);
    prof.resolved.push({ querySet: prof.querySet, buffer, count: prof.used });
    prof.querySet = this.device.createQuerySet({ type: 'timestamp', count: PROFILE_QUERIES });
    prof.used = 0;
  }

  private uniformSlot(data: UniformData): GPUBufferBinding {
    if (this.uniformSlots === UNIFORM_ARENA_SLOTS) this.flush();
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength)
      : new Uint8Array(new Uint32Array(data as number[]).buffer);
    if (bytes.byteLength > UNIFORM_SLOT) throw new Error(`uniform block of ${bytes.byteLength} bytes exceeds ${UNIFORM_SLOT}`);
    const offset = this.uniformSlots * UNIFORM_SLOT;
    this.uniformStaging.set(bytes, offset);
    this.uniformSlots++;
    return { buffer: this.uniformArena, offset, size: alignTo(bytes.byteLength, 16) };
  }

  private ensureEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private ensurePass(): GPUComputePassEncoder {
    if (!this.pass) {
      const encoder = this.ensureEncoder();
      const timestampWrites =
        this.timedPass && this.timestampQuery
          ? { querySet: this.timestampQuery, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 }
          : this.submissionTimestamps();
      this.pass = encoder.beginComputePass(timestampWrites ? { timestampWrites } : undefined);
    }
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /**
   * Submits everything recorded so far as one command buffer. Called at any dispatch boundary
   * (by the budget, a kind change, a write or a read), it changes no result: the queue runs
   * submissions in order, and the uniform arena is rewritten in queue order after the last
   * submission that read it.
   */
  flush(): void {
    this.endPass();
    const open = this.open;
    this.open = openSubmission(this.kind);
    if (!this.encoder) return;
    const measured = this.measureSubmission(this.encoder, open);
    if (this.uniformSlots > 0) {
      // Queue order: this write lands before the command buffer that reads it, after earlier ones.
      this.device.queue.writeBuffer(this.uniformArena, 0, this.uniformStaging, 0, this.uniformSlots * UNIFORM_SLOT);
      this.uniformSlots = 0;
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.submitCount++;
    measured();
  }

  /** Waits until the GPU has finished everything submitted, and the submissions' measurements are in. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.measured();
    this.throwIfRejected();
  }

  private async measured(): Promise<void> {
    while (this.measuring.size > 0) await Promise.all(this.measuring);
  }

  /** Throws if WebGPU rejected any command since the last check (errors arrive asynchronously). */
  throwIfRejected(): void {
    const errors = this.gpu.takeErrors();
    if (errors.length > 0) throw new GpuCommandError(errors);
  }

  /**
   * Runs `record` (which only records dispatches) in one compute pass and returns its GPU time
   * in milliseconds from timestamp queries, or the wall time around submit-to-done where the
   * adapter has no timestamps.
   */
  async time(record: () => void): Promise<{ ms: number; source: 'timestamp' | 'wall' }> {
    await this.sync();
    if (!this.gpu.hasTimestamps) {
      const t0 = performance.now();
      record();
      await this.sync();
      return { ms: performance.now() - t0, source: 'wall' };
    }
    this.timestampQuery ??= this.device.createQuerySet({ type: 'timestamp', count: 2 });
    this.timedPass = true;
    try {
      record();
      this.endPass();
    } finally {
      this.timedPass = false;
    }
    const resolve = this.acquire(16, 'timestamps', QUERY_RESOLVE | 0x4 /* COPY_SRC */);
    this.ensureEncoder().resolveQuerySet(this.timestampQuery, 0, 2, resolve, 0);
    const ticks = new BigUint64Array(await this.read(resolve, 0, 16));
    this.release(resolve);
    return { ms: Number(ticks[1]! - ticks[0]!) / 1e6, source: 'timestamp' };
  }

  destroy(): void {
    this.flush();
    this.trimPool();
    this.uniformArena.destroy();
    for (const q of this.freeQuerySets) q.destroy();
    this.submissionResolve?.destroy();
    this.spareTimestampReadback?.destroy();
    this.device.destroy();
  }
}

/** A window of a buffer bound as one binding (offset must be a multiple of 256). */
export interface BufferSlice {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** What a kernel binds: a whole buffer or a slice of one (a named view into a flat allocation). */
export type BufferRef = GPUBuffer | BufferSlice;

/** Bytes visible through a binding. */
export function refBytes(ref: BufferRef): number {
  return ref.size;
}

/** `floats` floats of a binding from `floatOffset` (a multiple of 64, so the slice stays 256-byte aligned). */
export function sliceRef(ref: BufferRef, floatOffset: number, floats: number): BufferSlice {
  if (floatOffset % 64 !== 0) throw new Error(`sliceRef: offset ${floatOffset} floats is not a multiple of 64 (256 bytes)`);
  if ((floatOffset + floats) * 4 > ref.size)
    throw new Error(`sliceRef: [${floatOffset}, ${floatOffset + floats}) floats runs past a ${ref.size}-byte binding`);
  const base = 'buffer' in ref ? ref : { buffer: ref, offset: 0 };
  return { buffer: base.buffer, offset: base.offset + floatOffset * 4, size: floats * 4 };
}

export function alignTo(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
