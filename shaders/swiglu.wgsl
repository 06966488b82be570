// SwiGLU activation of the LLaMA MLP: out = silu(gate) · up, silu(g) = g · sigmoid(g).
// Backward overwrites the scratch gradients:
//   dUp = dOut · silu(gate),   dGate = dOut · up · sigmoid(g) · (1 + g · (1 − sigmoid(g))).

@group(0) @binding(0) var<storage, read> fwd_gate: array<f32>;
@group(0) @binding(1) var<storage, read> fwd_up: array<f32>;
@group(0) @binding(2) var<storage, read_write> fwd_out: array<f32>;
@group(0) @binding(3) var<uniform> fwd_n: u32;

@group(0) @binding(0) var<storage, read> bwd_dOut: array<f32>;
@group(0) @binding(1) var<storage, read> bwd_gate: array<f32>;
@group(0) @binding(2) var<storage, read> bwd_up: array<f32>;
@group(0) @binding(3) var<storage, read_write> bwd_dGate: array<f32>;
@group(0) @binding(4) var<storage, read_write> bwd_dUp: array<f32>;
@group(0) @binding(5) var<uniform> bwd_n: u32;

override WG: u32 = 256;

// exp of a non-positive number only: never overflows, so no inf/NaN for any finite g (WGSL
// implementations may assume floating-point results are finite).
fn sigmoid(g: f32) -> f32 {
  let e = exp(-abs(g));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, g >= 0.0); // e/(1+e) = sigmoid(g) when g < 0
}

@compute @workgroup_size(WG)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // 2-D grid so that n beyond 65535 workgroups still fits the dispatch limit.
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= fwd_n) {
    return;
  }
  let g = fwd_gate[i];
  fwd_out[i] = g * sigmoid(g) * fwd_up[i];
}

@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= bwd_n) {
    return;
  }
  let g = bwd_gate[i];
  let s = sigmoid(g);
  let d = bwd_dOut[i];
  bwd_dUp[i] = d * g * s;
  bwd_dGate[i] = d * bwd_up[i] * s * (1.0 + g * (1.0 - s));
}
