// matmul.wgsl's operands as f16 packed in pairs (shaders/cast.wgsl), unpacked to f32 on load: the
// products and their sums stay f32.
@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read> b: array<u32>;

fn load_a(i: u32) -> f32 {
  return unpack2x16float(a[i >> 1u])[i & 1u];
}

fn load_b(i: u32) -> f32 {
  return unpack2x16float(b[i >> 1u])[i & 1u];
}
