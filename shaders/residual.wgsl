// Residual connections: out = a + b forward; backward accumulates the incoming gradient into
// the residual stream's gradient (the other branch receives it unchanged, no kernel needed).

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn residual_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // 2-D grid so that large tensors fit under maxComputeWorkgroupsPerDimension.
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < params.n) {
    out[i] = a[i] + b[i];
  }
}
