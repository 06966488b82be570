// The optimizer step: the global gradient norm (for clipping) and AdamW, all on the GPU so that a
// training step needs no readback.
//
// norm_partial + norm_final: Σ g² over any number of gradient tensors in two deterministic passes
// (WGSL has no float atomics). norm_partial is dispatched once per tensor: workgroup k sums the
// squares of its CHUNK-element chunk and writes partials[partial_offset + k]. norm_final, one
// workgroup, adds every partial in a fixed order and writes out[0] = Σ g². The same shapes always
// give the same bits.
//
// adamw_step: PyTorch's torch.optim.AdamW (foreach=False) step, with the clip factor of
// torch.nn.utils.clip_grad_norm_ applied to the gradient first:
//   clip  = min(1, max_norm / (sqrt(Σ g²) + 1e-6))          (1 when clipping is off)
//   g     = grad · clip
//   param = param · (1 − lr · weight_decay)                 (decoupled decay, before the update)
//   m     = β1 · m + (1 − β1) · g
//   v     = β2 · v + (1 − β2) · g²
//   param = param − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps),  bc_i = 1 − β_i^step
// which equals param − lr·(m̂/(sqrt(v̂)+eps) + weight_decay·param) with m̂ = m/bc1, v̂ = v/bc2.

override WG: u32 = 256;
// Elements each norm_partial workgroup sums: one float per 4096 gradients keeps the partial
// buffer small, and 64 threads (64 elements each) keep its reduction tree short.
override CHUNK: u32 = 4096;

struct PartialParams {
  n: u32,
  partial_offset: u32,
}

@group(0) @binding(0) var<storage, read> part_grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> partial_params: PartialParams;

// workgroup_sum comes from reduce.wgsl or reduce-subgroups.wgsl (src/kernels/reduce.ts).

@compute @workgroup_size(WG)
fn norm_partial(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  /*@subgroup_id*/
) {
  let chunk = wid.x + wid.y * nwg.x; // 2-D grid: see grid1d in src/kernels/grid.ts
  let start = chunk * CHUNK;
  if (start >= partial_params.n) {
    return; // workgroup-uniform: the whole group leaves before any barrier
  }
  let end = min(start + CHUNK, partial_params.n);
  var s = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    let g = part_grad[i];
    s += g * g;
  }
  let total = workgroup_sum(s, lid, subgroup_id);
  if (lid == 0u) {
    partials[partial_params.partial_offset + chunk] = total;
  }
}

struct FinalParams {
  count: u32,
}

@group(0) @binding(0) var<storage, read> final_partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm_out: array<f32>;
@group(0) @binding(2) var<uniform> final_params: FinalParams;

@compute @workgroup_size(WG)
fn norm_final(@builtin(local_invocation_index) lid: u32, /*@subgroup_id*/) {
  var s = 0.0;
  for (var i = lid; i < final_params.count; i += WG) {
    s += final_partials[i];
  }
  let total = workgroup_sum(s, lid, subgroup_id);
  if (lid == 0u) {
    norm_out[0] = total;
  }
}

struct AdamParams {
  n: u32,
  clip_enabled: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  max_norm: f32,
  // lr / (1 − β1^step) and sqrt(1 − β2^step), computed in float64 on the CPU.
  step_size: f32,
  bias_correction2_sqrt: f32,
}

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(4) var<storage, read> norm_squared: array<f32>;
@group(0) @binding(5) var<uniform> adam: AdamParams;

@compute @workgroup_size(WG)
fn adamw_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= adam.n) {
    return;
  }
  var clip = 1.0;
  if (adam.clip_enabled != 0u) {
    clip = min(1.0, adam.max_norm / (sqrt(norm_squared[0]) + 1e-6));
  }
  let g = grads[i] * clip;
  var p = params[i] * (1.0 - adam.lr * adam.weight_decay);
  let m = adam.beta1 * exp_avg[i] + (1.0 - adam.beta1) * g;
  let v = adam.beta2 * exp_avg_sq[i] + (1.0 - adam.beta2) * g * g;
  p -= adam.step_size * m / (sqrt(v) / adam.bias_correction2_sqrt + adam.eps);
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  params[i] = p;
}
