// RMSNorm as Hugging Face's LlamaRMSNorm computes it in f32:
//   rstd[t] = 1 / sqrt(mean_c(x[t, c]²) + eps),   out[t, c] = (x[t, c] · rstd[t]) · weight[c].
// Backward, with g = dOut · weight:
//   dx[t, c]      += rstd[t] · g[t, c] − rstd[t]³ · x[t, c] · mean_k(g[t, k] · x[t, k])
//   dWeight[c]    += Σ_t dOut[t, c] · x[t, c] · rstd[t]
// WGSL has no float atomics, so dWeight is reduced in two deterministic passes: per-chunk
// partial sums over `rowsPerChunk` rows (in the same pass as dx), then a per-channel sum of the
// partials in order.

struct Params {
  T: u32,
  C: u32,
  eps: f32,
  rowsPerChunk: u32, // backward only
}

override WG: u32 = 64; // a power of two (tree reduction); set by src/kernels/rmsnorm.ts

// workgroup_sum comes from reduce.wgsl or reduce-subgroups.wgsl (src/kernels/reduce.ts).

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
  /*@subgroup_id*/
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
  let mean_sq = workgroup_sum(sum_sq, lane, subgroup_id) / f32(C);
  let rstd = 1.0 / sqrt(mean_sq + fwd_params.eps);
  for (var c = lane; c < C; c += WG) {
    fwd_out[base + c] = (fwd_x[base + c] * rstd) * fwd_weight[c];
  }
  if (lane == 0u) {
    fwd_rstd[t] = rstd;
  }
}

@group(0) @binding(0) var<storage, read> bwd_dOut: array<f32>;
@group(0) @binding(1) var<storage, read> bwd_x: array<f32>;
@group(0) @binding(2) var<storage, read> bwd_weight: array<f32>;
@group(0) @binding(3) var<storage, read> bwd_rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> bwd_dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> bwd_partials: array<f32>; // [chunks, C]
@group(0) @binding(6) var<uniform> bwd_params: Params;

// Channels of the model (C); sizes the per-chunk dWeight sums kept in workgroup memory.
override MAX_C: u32 = 64;
var<workgroup> dweight_chunk: array<f32, MAX_C>;

// dx and the first dWeight pass fused, so dOut and x are read once: one workgroup per chunk of
// rowsPerChunk rows, row after row; lane l owns channels l, l + WG, ... of every row, and its
// running dWeight sums live in workgroup slots no other lane touches (no barrier needed for them).
@compute @workgroup_size(WG)
fn rmsnorm_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lane: u32,
  /*@subgroup_id*/
) {
  let chunk = row_of(wid, nwg);
  let T = bwd_params.T;
  let first = chunk * bwd_params.rowsPerChunk;
  // Uniform across the workgroup, so the early return keeps the barriers below uniform too.
  if (first >= T) {
    return;
  }
  let last = min(first + bwd_params.rowsPerChunk, T);
  let C = bwd_params.C;
  for (var c = lane; c < C; c += WG) {
    dweight_chunk[c] = 0.0;
  }
  for (var t = first; t < last; t++) {
    let base = t * C;
    var dot = 0.0;
    for (var c = lane; c < C; c += WG) {
      dot += bwd_dOut[base + c] * bwd_weight[c] * bwd_x[base + c];
    }
    let mean_dot = workgroup_sum(dot, lane, subgroup_id) / f32(C);
    let rstd = bwd_rstd[t];
    let correction = rstd * rstd * rstd * mean_dot;
    for (var c = lane; c < C; c += WG) {
      let d = bwd_dOut[base + c];
      let xv = bwd_x[base + c];
      bwd_dx[base + c] += rstd * d * bwd_weight[c] - correction * xv;
      dweight_chunk[c] += d * xv * rstd;
    }
  }
  for (var c = lane; c < C; c += WG) {
    bwd_partials[chunk * C + c] = dweight_chunk[c];
  }
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
