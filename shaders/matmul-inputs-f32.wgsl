// matmul.wgsl's operands as f32 (the default path).
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;

fn load_a(i: u32) -> f32 {
  return a[i];
}

fn load_b(i: u32) -> f32 {
  return b[i];
}
