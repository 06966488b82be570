// Rotary position embedding, Hugging Face LLaMA "rotate_half" convention, in place on
// x[B·S, nHeads·headDim]. With h = headDim/2 and (cos, sin) of angle p·inv_freq_i for the
// token's position p within its sequence:
//   forward:  x[i] ← x[i]·cos − x[i+h]·sin,   x[i+h] ← x[i+h]·cos + x[i]·sin
//   backward: the transpose, i.e. the same rotation by −angle.
// cos/sin come from a table computed on the CPU (src/kernels/rope.ts) rather than WGSL's
// cos/sin, whose accuracy is loosely specified and differs between GPUs; angles reach
// thousands of radians, where an approximate GPU sin would be useless.

struct Params {
  T: u32,      // B·S rows
  S: u32,
  nHeads: u32,
  headDim: u32,
}

@group(0) @binding(0) var<storage, read> cos_sin: array<vec2<f32>>; // [S, headDim/2] of (cos, sin)
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override WG: u32 = 256;

// One thread per rotated pair (row, head, i); `direction` is +1 forward, −1 backward.
fn rotate_pair(pair: u32, direction: f32) {
  let half = params.headDim / 2u;
  if (pair >= params.T * params.nHeads * half) {
    return;
  }
  let i = pair % half;
  let rest = pair / half;
  let head = rest % params.nHeads;
  let t = rest / params.nHeads;
  let p = t % params.S;
  let cs = cos_sin[p * half + i];
  let c = cs.x;
  let s = direction * cs.y;
  let lo = t * params.nHeads * params.headDim + head * params.headDim + i;
  let hi = lo + half;
  let x_lo = x[lo];
  let x_hi = x[hi];
  x[lo] = x_lo * c - x_hi * s;
  x[hi] = x_hi * c + x_lo * s;
}

@compute @workgroup_size(WG)
fn rope_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  rotate_pair(gid.x + gid.y * nwg.x * WG, 1.0);
}

@compute @workgroup_size(WG)
fn rope_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  rotate_pair(gid.x + gid.y * nwg.x * WG, -1.0);
}
