// Fused softmax + cross-entropy over the vocabulary (the model's last op), and the mean loss.
//
// softmax_crossentropy: one workgroup of WG threads per row t of logits[T, V]. Each thread keeps
// an online (max, Σexp(x − max)) pair over a strided slice of the row, so the row is read once
// for the statistics; a tree reduction merges the pairs, giving lse = max + log(Σ). Then
//   losses[t] = lse − logits[t, targets[t]]
// and, when params.write_gradient is 1, the row is overwritten in place with the fused backward
//   dlogits = (softmax − onehot(target)) · grad_scale      (as llm.c does)
// so no [T, V] probability tensor is ever stored.
//
// targets[t] == IGNORE_INDEX (0xFFFFFFFF) marks a position that does not count: loss 0 and a zero
// gradient row. Any other target ≥ V is a data bug: its loss is NaN (so it shows up in the logged
// loss) and its gradient row is zero (so it does not poison the parameters).

const IGNORE_INDEX: u32 = 0xFFFFFFFFu;
// The most negative finite f32: a "no element seen yet" maximum that, unlike −inf, never makes
// (m − m) = NaN when two empty partial results are merged.
const LOWEST: f32 = -3.4028234663852886e38;

struct Params {
  T: u32,
  V: u32,
  grad_scale: f32,
  write_gradient: u32,
  // Row of this dispatch's first workgroup: rows too long for one submission run as several dispatches.
  row_offset: u32,
}

// Threads a row: a power of two (the tree reduction halves it), chosen from V by the launcher.
override WG: u32 = 256;

@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
// Written as raw f32 bits: WGSL lets compilers assume floats are never NaN, so the NaN that flags
// a bad target is stored as a bit pattern rather than produced by float arithmetic.
@group(0) @binding(2) var<storage, read_write> loss_bits: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

const QUIET_NAN_BITS: u32 = 0x7fc00000u;

// workgroup_max_sum and workgroup_sum come from reduce.wgsl or reduce-subgroups.wgsl
// (src/kernels/reduce.ts).

@compute @workgroup_size(WG)
fn softmax_crossentropy(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  /*@subgroup_id*/
) {
  // Rows fold into a 2-D grid so that T may exceed maxComputeWorkgroupsPerDimension.
  let row = wid.x + wid.y * nwg.x + params.row_offset;
  if (row >= params.T) {
    return; // workgroup-uniform: the whole group leaves before any barrier
  }
  let V = params.V;
  let base = row * V;

  var m = LOWEST;
  var s = 0.0;
  for (var i = lid; i < V; i += WG) {
    let x = logits[base + i];
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  let row_max_sum = workgroup_max_sum(m, s, lid, subgroup_id);
  let lse = row_max_sum.x + log(row_max_sum.y);

  let target_id = targets[row];
  let ignored = target_id == IGNORE_INDEX;
  let valid = target_id < V;
  if (lid == 0u) {
    if (valid) {
      loss_bits[row] = bitcast<u32>(lse - logits[base + target_id]);
    } else if (ignored) {
      loss_bits[row] = 0u;
    } else {
      loss_bits[row] = QUIET_NAN_BITS;
    }
  }
  if (params.write_gradient == 0u) {
    return;
  }
  // Lane 0 must have read logits[base + target_id] for the loss before the row is overwritten.
  workgroupBarrier();
  let scale = params.grad_scale;
  for (var i = lid; i < V; i += WG) {
    var g = 0.0;
    if (valid) {
      let p = exp(logits[base + i] - lse);
      g = (p - select(0.0, 1.0, i == target_id)) * scale;
    }
    logits[base + i] = g;
  }
}

// mean_loss: one workgroup; out[0] = Σ losses over non-ignored positions / their count (0 when
// every position is ignored). A fixed-order tree reduction, so the result is deterministic.
struct MeanParams {
  T: u32,
}

@group(0) @binding(0) var<storage, read> mean_losses: array<f32>;
@group(0) @binding(1) var<storage, read> mean_targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(3) var<uniform> mean_params: MeanParams;

@compute @workgroup_size(WG)
fn mean_loss(@builtin(local_invocation_index) lid: u32, /*@subgroup_id*/) {
  var s = 0.0;
  var c = 0.0;
  for (var t = lid; t < mean_params.T; t += WG) {
    if (mean_targets[t] != IGNORE_INDEX) {
      s += mean_losses[t];
      c += 1.0;
    }
  }
  let total = workgroup_sum(s, lid, subgroup_id);
  let count = workgroup_sum(c, lid, subgroup_id);
  if (lid == 0u) {
    mean_out[0] = select(0.0, total / count, count > 0.0);
  }
}
