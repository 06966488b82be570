// Workgroup reductions, the plain variant (workgroup memory and barriers only). Appended by
// src/kernels/reduce.ts to a shader that declares `override WG: u32` (a power of two) and calls
// them from workgroup-uniform control flow, every lane of the workgroup at once. The subgroup
// variant (reduce-subgroups.wgsl) has the same functions and gives the same bits: both are the
// tree below, it only does the last steps inside a subgroup.
//
// Entry points take `/*@subgroup_id*/` in their parameter list: nothing here, the lane's
// subgroup_invocation_id in the subgroup variant; callers pass `subgroup_id` through.
const subgroup_id: u32 = 0u;

var<workgroup> reduce_a: array<f32, WG>;
var<workgroup> reduce_b: array<f32, WG>;

// Σ value over the workgroup, as the tree v[j] += v[j + s] for s = WG/2, ..., 1; every lane gets it.
fn workgroup_sum(value: f32, lane: u32, sg_id: u32) -> f32 {
  reduce_a[lane] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      reduce_a[lane] += reduce_a[lane + stride];
    }
    workgroupBarrier();
  }
  let total = reduce_a[0];
  // Keeps a later call from overwriting reduce_a[0] before every lane has read it.
  workgroupBarrier();
  return total;
}

// Merges per-lane online-softmax pairs (max m, Σ exp(x − m)) over the workgroup with the same tree;
// returns (max, Σ exp(x − max)) of everything.
fn workgroup_max_sum(m: f32, s: f32, lane: u32, sg_id: u32) -> vec2<f32> {
  reduce_a[lane] = m;
  reduce_b[lane] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      let m_a = reduce_a[lane];
      let m_b = reduce_a[lane + stride];
      let m_ab = max(m_a, m_b);
      reduce_b[lane] = reduce_b[lane] * exp(m_a - m_ab) + reduce_b[lane + stride] * exp(m_b - m_ab);
      reduce_a[lane] = m_ab;
    }
    workgroupBarrier();
  }
  let total = vec2<f32>(reduce_a[0], reduce_b[0]);
  workgroupBarrier();
  return total;
}
