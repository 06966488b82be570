// A per-kernel profile from GpuRuntime.startProfile/stopProfile: the dispatches of some work
// (a training step) grouped by kernel label, with their GPU time, share of the whole, and the
// throughput each achieved against the device's peak where the caller knows it (WebGPU does not
// report peak FLOP/s or bandwidth, so benchmarks take them as flags); and the longest queue
// submission and the longest single dispatch, which the submission budget bounds.
import type { ProfiledDispatch } from './runtime.ts';
import type { WorkKind } from './submissions.ts';

export interface ProfilePeaks {
  /** Peak f32 TFLOP/s of the device. */
  tflops?: number;
  /** Peak memory bandwidth in GB/s. */
  gbps?: number;
}

export interface KernelProfileRow {
  kernel: string;
  calls: number;
  /** GPU time of all its calls, and what the submission planner expected of them. */
  ms: number;
  estimatedMs: number;
  /** ms over the time of every profiled dispatch. */
  share: number;
  flops: number;
  bytes: number;
  gflops: number;
  gbps: number;
  /** Achieved over peak, for whichever of FLOP/s and bandwidth bounds it (the larger ratio); null without peaks. */
  ofPeak: number | null;
  /** 'compute' when its FLOP/s is the larger fraction of peak, 'memory' when its bandwidth is. */
  bound: 'compute' | 'memory' | null;
}

/** The submission whose dispatches took longest in total (pass boundaries and copies excluded). */
export interface ProfiledSubmission {
  kind: WorkKind;
  ms: number;
  dispatches: number;
  /** Its slowest dispatch. */
  slowest: string;
}

export interface KernelProfile {
  dispatches: number;
  /** Sum of the dispatches' GPU times (pass boundaries and copies between them excluded). */
  totalMs: number;
  rows: KernelProfileRow[];
  /** Submissions the profiled dispatches went out in, and the longest of them. */
  submissions: number;
  longestSubmission: ProfiledSubmission | null;
  /** The slowest single dispatch: no submission boundary can cut below it. */
  longestDispatch: ProfiledDispatch | null;
}

function longestSubmission(dispatches: readonly ProfiledDispatch[]): { submissions: number; longest: ProfiledSubmission | null } {
  const bySubmission = new Map<number, ProfiledSubmission & { slowestMs: number }>();
  for (const d of dispatches) {
    let s = bySubmission.get(d.submission);
    if (!s) bySubmission.set(d.submission, (s = { kind: d.kind, ms: 0, dispatches: 0, slowest: d.label, slowestMs: -1 }));
    s.ms += d.ms;
    s.dispatches++;
    if (d.ms > s.slowestMs) {
      s.slowest = d.label;
      s.slowestMs = d.ms;
    }
  }
  let longest: ProfiledSubmission | null = null;
  for (const { slowestMs: _, ...s } of bySubmission.values()) if (!longest || s.ms > longest.ms) longest = s;
  return { submissions: bySubmission.size, longest };
}

/** Groups dispatches by label, slowest kernel first. */
export function summarizeProfile(dispatches: readonly ProfiledDispatch[], peaks: ProfilePeaks = {}): KernelProfile {
  const byLabel = new Map<string, { calls: number; ms: number; estimatedMs: number; flops: number; bytes: number }>();
  let totalMs = 0;
  for (const d of dispatches) {
    let row = byLabel.get(d.label);
    if (!row) byLabel.set(d.label, (row = { calls: 0, ms: 0, estimatedMs: 0, flops: 0, bytes: 0 }));
    row.calls++;
    row.ms += d.ms;
    row.estimatedMs += d.estimatedMs;
    row.flops += d.flops;
    row.bytes += d.bytes;
    totalMs += d.ms;
  }
  const rows = [...byLabel.entries()].map(([kernel, r]): KernelProfileRow => {
    const seconds = r.ms / 1000;
    const gflops = seconds > 0 ? r.flops / seconds / 1e9 : 0;
    const gbps = seconds > 0 ? r.bytes / seconds / 1e9 : 0;
    const computeFraction = peaks.tflops ? gflops / (peaks.tflops * 1000) : null;
    const memoryFraction = peaks.gbps ? gbps / peaks.gbps : null;
    let ofPeak: number | null = null;
    let bound: KernelProfileRow['bound'] = null;
    if (computeFraction !== null && r.flops > 0 && (memoryFraction === null || computeFraction >= memoryFraction)) {
      ofPeak = computeFraction;
      bound = 'compute';
    } else if (memoryFraction !== null && r.bytes > 0) {
      ofPeak = memoryFraction;
      bound = 'memory';
    }
    return {
      kernel,
      calls: r.calls,
      ms: r.ms,
      estimatedMs: r.estimatedMs,
      share: totalMs > 0 ? r.ms / totalMs : 0,
      flops: r.flops,
      bytes: r.bytes,
      gflops,
      gbps,
      ofPeak,
      bound,
    };
  });
  rows.sort((a, b) => b.ms - a.ms);
  const { submissions, longest } = longestSubmission(dispatches);
  let longestDispatch: ProfiledDispatch | null = null;
  for (const d of dispatches) if (!longestDispatch || d.ms > longestDispatch.ms) longestDispatch = d;
  return { dispatches: dispatches.length, totalMs, rows, submissions, longestSubmission: longest, longestDispatch };
}
