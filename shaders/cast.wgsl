// f32 → f16, two values packed in each u32 (pack2x16float, core WGSL: no shader-f16 needed to
// store or read halves). The f16 path's matmul inputs are these packed pairs; the kernels that
// read them unpack with unpack2x16float and accumulate in f32. Values beyond f16's range are
// clamped to ±65504 first (WGSL leaves the conversion of out-of-range values undefined).

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

override WG: u32 = 256;
const F16_MAX: f32 = 65504.0;

@compute @workgroup_size(WG)
fn cast_to_half(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // One thread per pair; 2-D grid as in src/kernels/grid.ts.
  let pair = gid.x + gid.y * nwg.x * WG;
  let first = 2u * pair;
  if (first >= params.n) {
    return;
  }
  var second = 0.0;
  if (first + 1u < params.n) {
    second = src[first + 1u];
  }
  dst[pair] = pack2x16float(clamp(vec2<f32>(src[first], second), vec2<f32>(-F16_MAX), vec2<f32>(F16_MAX)));
}
