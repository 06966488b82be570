// Token embedding: forward gathers rows of the table; backward scatters the output gradient back
// into the table's gradient without float atomics, using a CSR index of positions grouped by
// token id built on the CPU (src/kernels/embedding.ts buildTokenIndex). Each (token id, channel)
// pair is owned by exactly one thread that sums its positions in increasing order, so the result
// is deterministic and bit-identical from run to run.

struct ForwardParams {
  T: u32,
  C: u32,
  V: u32, // rows in the table
}

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> fwd: ForwardParams;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // 2-D grid so that T·C beyond 65535 workgroups still fits the dispatch limit.
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= fwd.T * fwd.C) {
    return;
  }
  let t = i / fwd.C;
  let c = i - t * fwd.C;
  let id = tokens[t];
  if (id >= fwd.V) {
    // Robust buffer access would silently read some other row; NaN makes the bad id show up in
    // the loss instead. buildTokenIndex rejects such ids on the CPU with a clear error.
    // (A `let`, because WGSL refuses NaN in a constant expression.)
    let quiet_nan_bits = 0x7fc00000u;
    out[i] = bitcast<f32>(quiet_nan_bits);
    return;
  }
  out[i] = table[id * fwd.C + c];
}

struct BackwardParams {
  C: u32,
  uniqueCount: u32,    // distinct token ids in the batch
  offsetsStart: u32,   // where the CSR offsets begin inside `index`
  positionsStart: u32, // where the CSR positions begin inside `index`
}

// `index` holds [uniqueIds (uniqueCount) | offsets (uniqueCount + 1) | positions (T)]: the
// positions of uniqueIds[u] are positions[offsets[u] .. offsets[u + 1]), in increasing order.
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read_write> dTable: array<f32>;
@group(0) @binding(3) var<uniform> bwd: BackwardParams;

@compute @workgroup_size(WG)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= bwd.uniqueCount * bwd.C) {
    return;
  }
  let u = i / bwd.C;
  let c = i - u * bwd.C;
  let begin = index[bwd.offsetsStart + u];
  let end = index[bwd.offsetsStart + u + 1u];
  var sum = 0.0;
  for (var k = begin; k < end; k++) {
    let t = index[bwd.positionsStart + k];
    sum += dOut[t * bwd.C + c];
  }
  let row = index[u];
  dTable[row * bwd.C + c] += sum;
}
