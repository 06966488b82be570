// Workgroup reductions with subgroup operations: the same functions and the same bits as
// reduce.wgsl. The tree's steps with strides ≥ SG_LANES go through workgroup memory as there;
// the last log2(SG_LANES) steps run as a butterfly of subgroupShuffleXor inside each subgroup,
// without barriers. Lane j < s of a butterfly step adds v[j ^ s] = v[j + s] to v[j], exactly the
// tree's addition, so subgroup lane 0 ends with the tree's total; every subgroup computes it from
// workgroup memory on its own (no assumption about how lanes map to subgroups) and broadcasts it.
// SG_LANES is min(the adapter's smallest subgroup size, WG), set by src/kernels/reduce.ts.
override SG_LANES: u32 = 4u;

var<workgroup> reduce_a: array<f32, WG>;
var<workgroup> reduce_b: array<f32, WG>;

fn workgroup_sum(value: f32, lane: u32, sg_id: u32) -> f32 {
  reduce_a[lane] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride >= SG_LANES; stride /= 2u) {
    if (lane < stride) {
      reduce_a[lane] += reduce_a[lane + stride];
    }
    workgroupBarrier();
  }
  var v = reduce_a[sg_id % SG_LANES];
  for (var stride = SG_LANES / 2u; stride > 0u; stride /= 2u) {
    v += subgroupShuffleXor(v, stride);
  }
  let total = subgroupBroadcast(v, 0u);
  // Keeps a later call from overwriting reduce_a before every subgroup has read it.
  workgroupBarrier();
  return total;
}

fn workgroup_max_sum(m: f32, s: f32, lane: u32, sg_id: u32) -> vec2<f32> {
  reduce_a[lane] = m;
  reduce_b[lane] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride >= SG_LANES; stride /= 2u) {
    if (lane < stride) {
      let m_a = reduce_a[lane];
      let m_b = reduce_a[lane + stride];
      let m_ab = max(m_a, m_b);
      reduce_b[lane] = reduce_b[lane] * exp(m_a - m_ab) + reduce_b[lane + stride] * exp(m_b - m_ab);
      reduce_a[lane] = m_ab;
    }
    workgroupBarrier();
  }
  var m_a = reduce_a[sg_id % SG_LANES];
  var s_a = reduce_b[sg_id % SG_LANES];
  for (var stride = SG_LANES / 2u; stride > 0u; stride /= 2u) {
    let m_b = subgroupShuffleXor(m_a, stride);
    let s_b = subgroupShuffleXor(s_a, stride);
    let m_ab = max(m_a, m_b);
    s_a = s_a * exp(m_a - m_ab) + s_b * exp(m_b - m_ab);
    m_a = m_ab;
  }
  let total = vec2<f32>(subgroupBroadcast(m_a, 0u), subgroupBroadcast(s_a, 0u));
  workgroupBarrier();
  return total;
}
