// RMSNorm as Hugging Face's LlamaRMSNorm computes it in f32:
//   rstd[t] = 1 / sqrt(mean_c(x[t, c]²) + eps),   out[t, c] = (x[t, c] · rstd[t]) · weight[c].
// Backward, with g = dOut · weight:
//   dx[t, c]      += rstd[t] · g[t, c] − rstd[t]³ · x[t, c] · mean_k(g[t, k] · x[t, k])
//   dWeight[c]    += Σ_t dOut[t, c] · x[t, c] · rstd[t]
// WGSL has no float atomics, so dWeight is reduced in two deterministic passes: per-chunk
// partial sums over `rowsPerChunk` rows, then a per-channel sum of the partials in order.

struct Params {
  T: u32,
  C: u32,
  eps: f32,
  rowsPerChunk: u32, // dWeight passes only
}

override WG: u32 = 64; // a power of two (tree reduction); set by src/kernels/rmsnorm.ts

var<workgroup> shared_sum: array<f32, WG>;

// Tree reduction of one value per thread; every thread gets the workgroup's total.
fn workgroup_sum(value: f32, lane: u32) -> f32 {
  shared_sum[lane] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      shared_sum[lane] += shared_sum[lane + stride];
    }
    workgroupBarrier();
  }
  let total = shared_sum[0];
  // Keeps a later call from overwriting shared_sum[0] before every thread has read it.
  workgroupBarrier();
  return total;
}

// One workgroup per row; rows fold into a 2-D grid when T exceeds the per-dimension limit.
fn row_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

@group(0) @binding(0) var<storage, read> fwd_x: array<f32>;
@group(0) @binding(1) var<storage, read> fwd_weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> fwd_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> fwd_rstd: array<f32>;
@group(0) @binding(4) var<uniform> fwd_params: Params;

@compute @workgroup_size(WG)
fn rmsnorm_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lane: u32,
) {
  let t = row_of(wid, nwg);
  // Uniform across the workgroup, so the early return keeps the barriers below uniform too.
  if (t >= fwd_params.T) {
    return;
  }
  let C = fwd_params.C;
  let base = t * C;
  var sum_sq = 0.0;
  for (var c = lane; c < C; c += WG) {
    let v = fwd_x[base + c];
    sum_sq += v * v;
  }
  let mean_sq = workgroup_sum(sum_sq, lane) / f32(C);
  let rstd = 1.0 / sqrt(mean_sq + fwd_params.eps);
  for (var c = lane; c < C; c += WG) {
    fwd_out[base + c] = (fwd_x[base + c] * rstd) * fwd_weight[c];
  }
  if (lane == 0u) {
    fwd_rstd[t] = rstd;
  }
}

@group(0) @binding(0) var<storage, read> dx_dOut: array<f32>;
@group(0) @binding(1) var<storage, read> dx_x: array<f32>;
@group(0) @binding(2) var<storage, read> dx_weight: array<f32>;
@group(0) @binding(3) var<storage, read> dx_rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx_dx: array<f32>;
@group(0) @binding(5) var<uniform> dx_params: Params;

@compute @workgroup_size(WG)
fn rmsnorm_backward_dx(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lane: u32,
) {
  let t = row_of(wid, nwg);
  if (t >= dx_params.T) {
    return;
  }
  let C = dx_params.C;
  let base = t * C;
  var dot = 0.0;
  for (var c = lane; c < C; c += WG) {
    dot += dx_dOut[base + c] * dx_weight[c] * dx_x[base + c];
  }
  let mean_dot = workgroup_sum(dot, lane) / f32(C);
  let rstd = dx_rstd[t];
  let correction = rstd * rstd * rstd * mean_dot;
  for (var c = lane; c < C; c += WG) {
    dx_dx[base + c] += rstd * dx_dOut[base + c] * dx_weight[c] - correction * dx_x[base + c];
  }
}

@group(0) @binding(0) var<storage, read> dw_dOut: array<f32>;
@group(0) @binding(1) var<storage, read> dw_x: array<f32>;
@group(0) @binding(2) var<storage, read> dw_rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw_partials: array<f32>; // [chunks, C]
@group(0) @binding(4) var<uniform> dw_params: Params;

// Grid: x over channel blocks of WG, y over row chunks. Neighbouring threads read neighbouring
// channels of one row, so each row's loads coalesce.
@compute @workgroup_size(WG)
fn rmsnorm_backward_dweight_partial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = gid.x;
  let C = dw_params.C;
  if (c >= C) {
    return;
  }
  let chunk = wid.y;
  let first = chunk * dw_params.rowsPerChunk;
  let last = min(first + dw_params.rowsPerChunk, dw_params.T);
  var sum = 0.0;
  for (var t = first; t < last; t++) {
    sum += dw_dOut[t * C + c] * dw_x[t * C + c] * dw_rstd[t];
  }
  dw_partials[chunk * C + c] = sum;
}

struct ReduceParams {
  C: u32,
  chunks: u32,
}

@group(0) @binding(0) var<storage, read> red_partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> red_dWeight: array<f32>;
@group(0) @binding(2) var<uniform> red_params: ReduceParams;

@compute @workgroup_size(WG)
fn rmsnorm_backward_dweight_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= red_params.C) {
    return;
  }
  var sum = 0.0;
  for (var k = 0u; k < red_params.chunks; k++) {
    sum += red_partials[k * red_params.C + c];
  }
  red_dWeight[c] += sum;
}
