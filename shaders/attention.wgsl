// Causal multi-head attention with grouped KV heads (HF repeat_kv), flash-attention style:
// blocks of queries and keys are staged in workgroup memory and the softmax is computed online,
// so no S×S matrix ever exists in memory.
//
//   attention_forward          out = softmax(scale·q·kᵀ + causal mask)·v, saves lse per query row
//   attention_backward_delta   delta_i = rowsum(dOut_i ∘ out_i)            (FlashAttention-2's D)
//   attention_backward_dkdv    dk, dv for one block of keys of one kv head, summed over every
//                              query head of its group and every later query: no float atomics
//   attention_backward_dq      dq for one block of queries of one head
//
// Layouts: q, out, dOut, dq are [B·S, nHeads·HEAD_DIM]; k, v, dk, dv are [B·S, nKvHeads·HEAD_DIM];
// lse and delta are [B, nHeads, S]. Rows are read as vec4 (HEAD_DIM is a multiple of 4).
//
// Thread layout: the threads of a workgroup form BLOCK rows × THREADS_PER_ROW lanes. Lane l of a
// row owns the vec4 columns l, l + THREADS_PER_ROW, ... of that row's accumulator (out, dq or
// dk/dv), SLOTS of them, held in registers for the whole key (or query) loop. Score tiles are
// computed by all threads together, then every lane of a row reads the whole row of scores back
// from workgroup memory, which avoids a cross-lane reduction for the softmax statistics.

struct Params {
  seqLen: u32,
  nHeads: u32,
  nKvHeads: u32,
  groupSize: u32,  // nHeads / nKvHeads: query head h reads kv head h / groupSize
  rows: u32,       // B·S·nHeads, the number of (token, head) rows of the delta pass
  // Head (kv head for dk/dv) and sequence of this dispatch's workgroup (·, 0, 0): a pass too long
  // for one submission runs as several dispatches over blocks of heads and sequences.
  headOffset: u32,
  batchOffset: u32,
}

override HEAD_DIM: u32 = 64u;
override BLOCK_Q: u32 = 16u;
override BLOCK_K: u32 = 16u;
override THREADS_PER_ROW: u32 = 4u;
override SCALE: f32 = 0.125;
override DELTA_WG: u32 = 64u;

override D4: u32 = HEAD_DIM / 4u;
// One padding vec4 per staged row: a column of the score tile reads rows D4 vec4s apart, and
// without it every row of a tile would start in the same memory bank.
override ROW4: u32 = D4 + 1u;
override SLOTS: u32 = D4 / THREADS_PER_ROW;
override FORWARD_WG: u32 = BLOCK_Q * THREADS_PER_ROW;
override DKDV_WG: u32 = BLOCK_K * THREADS_PER_ROW;
override DQ_WG: u32 = BLOCK_Q * THREADS_PER_ROW;

// Register accumulators need a constant size: SLOTS ≤ MAX_SLOTS is checked by the launcher.
const MAX_SLOTS: u32 = 8u;
// Score of a masked (future or padding) key: finite, so that max/exp never see inf − inf, and so
// low that exp(MASKED − m) is exactly 0 for any real running max m.
const MASKED: f32 = -3.0e38;

var<workgroup> qTile: array<vec4<f32>, BLOCK_Q * ROW4>;
var<workgroup> dOutTile: array<vec4<f32>, BLOCK_Q * ROW4>;
var<workgroup> kTile: array<vec4<f32>, BLOCK_K * ROW4>;
var<workgroup> vTile: array<vec4<f32>, BLOCK_K * ROW4>;
var<workgroup> scoreTile: array<f32, BLOCK_Q * BLOCK_K>;  // scores, or P in the backward
var<workgroup> dScoreTile: array<f32, BLOCK_Q * BLOCK_K>;  // dS = P ∘ (dP − delta)
var<workgroup> lseTile: array<f32, BLOCK_Q>;
var<workgroup> deltaTile: array<f32, BLOCK_Q>;

fn hsum(x: vec4<f32>) -> f32 {
  return (x.x + x.y) + (x.z + x.w);
}

// ---- forward ---------------------------------------------------------------------------------

@group(0) @binding(0) var<storage, read> fwdQ: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> fwdK: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> fwdV: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> fwdOut: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> fwdLse: array<f32>;
@group(0) @binding(5) var<uniform> fwdParams: Params;

// One workgroup: BLOCK_Q queries of head wid.y in sequence wid.z (plus the dispatch's offsets).
@compute @workgroup_size(FORWARD_WG)
fn attention_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let seqLen = fwdParams.seqLen;
  let head = wid.y + fwdParams.headOffset;
  let batch = wid.z + fwdParams.batchOffset;
  let kvHead = head / fwdParams.groupSize;
  // Later query blocks see more keys: hand them out first so the long ones do not finish last.
  let queryBlocks = (seqLen + BLOCK_Q - 1u) / BLOCK_Q;
  let q0 = (queryBlocks - 1u - wid.x) * BLOCK_Q;
  let qStride = fwdParams.nHeads * D4;
  let kvStride = fwdParams.nKvHeads * D4;
  let firstToken = batch * seqLen;

  for (var e = lid; e < BLOCK_Q * D4; e += FORWARD_WG) {
    let r = e / D4;
    let d = e % D4;
    var value = vec4<f32>(0.0);
    if (q0 + r < seqLen) {
      value = fwdQ[(firstToken + q0 + r) * qStride + head * D4 + d];
    }
    qTile[r * ROW4 + d] = value;
  }

  let row = lid / THREADS_PER_ROW;
  let lane = lid % THREADS_PER_ROW;
  var acc: array<vec4<f32>, MAX_SLOTS>;
  var runningMax = MASKED;
  var runningSum = 0.0;
  // The last query of this block sees keys up to q0 + BLOCK_Q − 1.
  let keyEnd = min(seqLen, q0 + BLOCK_Q);
  for (var k0 = 0u; k0 < keyEnd; k0 += BLOCK_K) {
    workgroupBarrier();  // everyone is done reading the previous key block
    for (var e = lid; e < BLOCK_K * D4; e += FORWARD_WG) {
      let c = e / D4;
      let d = e % D4;
      var kValue = vec4<f32>(0.0);
      var vValue = vec4<f32>(0.0);
      if (k0 + c < seqLen) {
        let at = (firstToken + k0 + c) * kvStride + kvHead * D4 + d;
        kValue = fwdK[at];
        vValue = fwdV[at];
      }
      kTile[c * ROW4 + d] = kValue;
      vTile[c * ROW4 + d] = vValue;
    }
    workgroupBarrier();
    for (var e = lid; e < BLOCK_Q * BLOCK_K; e += FORWARD_WG) {
      let r = e / BLOCK_K;
      let c = e % BLOCK_K;
      var score = MASKED;
      // Causal: key k0 + c is visible to query q0 + r when it is not in its future.
      if (k0 + c <= q0 + r && k0 + c < seqLen) {
        var dot = vec4<f32>(0.0);
        for (var d = 0u; d < D4; d++) {
          dot += qTile[r * ROW4 + d] * kTile[c * ROW4 + d];
        }
        score = hsum(dot) * SCALE;
      }
      scoreTile[e] = score;
    }
    workgroupBarrier();
    var blockMax = MASKED;
    for (var c = 0u; c < BLOCK_K; c++) {
      blockMax = max(blockMax, scoreTile[row * BLOCK_K + c]);
    }
    // Key 0 is visible to every query, so after the first block runningMax is a real score and
    // a block with no visible key for this row leaves it unchanged.
    let newMax = max(runningMax, blockMax);
    let rescale = exp(runningMax - newMax);
    runningSum *= rescale;
    for (var i = 0u; i < SLOTS; i++) {
      acc[i] *= rescale;
    }
    for (var c = 0u; c < BLOCK_K; c++) {
      let p = exp(scoreTile[row * BLOCK_K + c] - newMax);
      runningSum += p;
      for (var i = 0u; i < SLOTS; i++) {
        acc[i] += p * vTile[c * ROW4 + lane + i * THREADS_PER_ROW];
      }
    }
    runningMax = newMax;
  }

  let query = q0 + row;
  if (query < seqLen) {
    let base = (firstToken + query) * qStride + head * D4 + lane;
    let inverseSum = 1.0 / runningSum;
    for (var i = 0u; i < SLOTS; i++) {
      fwdOut[base + i * THREADS_PER_ROW] = acc[i] * inverseSum;
    }
    if (lane == 0u) {
      fwdLse[(batch * fwdParams.nHeads + head) * seqLen + query] = runningMax + log(runningSum);
    }
  }
}

// ---- backward: delta = rowsum(dOut ∘ out) ----------------------------------------------------

@group(0) @binding(0) var<storage, read> deltaDOut: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> deltaOut: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> deltaResult: array<f32>;
@group(0) @binding(3) var<uniform> deltaParams: Params;

// One thread per (token, head) row; a 2-D grid keeps the workgroup count under the limit.
@compute @workgroup_size(DELTA_WG)
fn attention_backward_delta(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let index = gid.x + gid.y * nwg.x * DELTA_WG;
  if (index >= deltaParams.rows) {
    return;
  }
  let token = index / deltaParams.nHeads;
  let head = index % deltaParams.nHeads;
  let base = index * D4;  // token-major rows of nHeads·D4 vec4s: (token, head) starts here
  var dot = vec4<f32>(0.0);
  for (var d = 0u; d < D4; d++) {
    dot += deltaDOut[base + d] * deltaOut[base + d];
  }
  let batch = token / deltaParams.seqLen;
  let position = token % deltaParams.seqLen;
  deltaResult[(batch * deltaParams.nHeads + head) * deltaParams.seqLen + position] = hsum(dot);
}

// ---- backward: shared by dk/dv and dq --------------------------------------------------------

@group(0) @binding(0) var<storage, read> bwdQ: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> bwdK: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bwdV: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bwdDOut: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bwdLse: array<f32>;
@group(0) @binding(5) var<storage, read> bwdDelta: array<f32>;
@group(0) @binding(6) var<storage, read_write> bwdGradA: array<vec4<f32>>;  // dk, or dq
@group(0) @binding(7) var<storage, read_write> bwdGradB: array<vec4<f32>>;  // dv (dk/dv pass only)
@group(0) @binding(8) var<uniform> bwdParams: Params;

// Stages queries q0.. of `head` (q, dOut, lse, delta); rows past the sequence are zero.
fn stageQueryBlock(lid: u32, wgSize: u32, batch: u32, head: u32, q0: u32) {
  let seqLen = bwdParams.seqLen;
  let qStride = bwdParams.nHeads * D4;
  for (var e = lid; e < BLOCK_Q * D4; e += wgSize) {
    let r = e / D4;
    let d = e % D4;
    var qValue = vec4<f32>(0.0);
    var dOutValue = vec4<f32>(0.0);
    if (q0 + r < seqLen) {
      let at = (batch * seqLen + q0 + r) * qStride + head * D4 + d;
      qValue = bwdQ[at];
      dOutValue = bwdDOut[at];
    }
    qTile[r * ROW4 + d] = qValue;
    dOutTile[r * ROW4 + d] = dOutValue;
  }
  for (var r = lid; r < BLOCK_Q; r += wgSize) {
    var lse = 0.0;
    var delta = 0.0;
    if (q0 + r < seqLen) {
      let at = (batch * bwdParams.nHeads + head) * seqLen + q0 + r;
      lse = bwdLse[at];
      delta = bwdDelta[at];
    }
    lseTile[r] = lse;
    deltaTile[r] = delta;
  }
}

// Stages keys k0.. of `kvHead` (k and v); rows past the sequence are zero.
fn stageKeyBlock(lid: u32, wgSize: u32, batch: u32, kvHead: u32, k0: u32) {
  let seqLen = bwdParams.seqLen;
  let kvStride = bwdParams.nKvHeads * D4;
  for (var e = lid; e < BLOCK_K * D4; e += wgSize) {
    let c = e / D4;
    let d = e % D4;
    var kValue = vec4<f32>(0.0);
    var vValue = vec4<f32>(0.0);
    if (k0 + c < seqLen) {
      let at = (batch * seqLen + k0 + c) * kvStride + kvHead * D4 + d;
      kValue = bwdK[at];
      vValue = bwdV[at];
    }
    kTile[c * ROW4 + d] = kValue;
    vTile[c * ROW4 + d] = vValue;
  }
}

// P (recomputed from lse) and dS = P ∘ (dOut·vᵀ − delta) for the staged blocks, into scoreTile
// and dScoreTile; zero where the key is in the query's future or a row is padding.
fn probabilitiesAndScoreGradients(lid: u32, wgSize: u32, q0: u32, k0: u32) {
  for (var e = lid; e < BLOCK_Q * BLOCK_K; e += wgSize) {
    let r = e / BLOCK_K;
    let c = e % BLOCK_K;
    var p = 0.0;
    var dScore = 0.0;
    // k0 + c <= q0 + r < seqLen: visible, and both rows are real.
    if (k0 + c <= q0 + r && q0 + r < bwdParams.seqLen) {
      var qk = vec4<f32>(0.0);
      var dOutV = vec4<f32>(0.0);
      for (var d = 0u; d < D4; d++) {
        qk += qTile[r * ROW4 + d] * kTile[c * ROW4 + d];
        dOutV += dOutTile[r * ROW4 + d] * vTile[c * ROW4 + d];
      }
      p = exp(hsum(qk) * SCALE - lseTile[r]);
      dScore = p * (hsum(dOutV) - deltaTile[r]);
    }
    scoreTile[e] = p;
    dScoreTile[e] = dScore;
  }
}

// One workgroup: BLOCK_K keys of kv head wid.y in sequence wid.z (plus offsets). It loops over
// every query head of the group and every query block that can see these keys, so each dk/dv row
// has exactly one writer.
@compute @workgroup_size(DKDV_WG)
fn attention_backward_dkdv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let seqLen = bwdParams.seqLen;
  let kvHead = wid.y + bwdParams.headOffset;
  let batch = wid.z + bwdParams.batchOffset;
  // Early key blocks are seen by more queries: hand them out first.
  let k0 = wid.x * BLOCK_K;
  stageKeyBlock(lid, DKDV_WG, batch, kvHead, k0);

  let keyRow = lid / THREADS_PER_ROW;
  let lane = lid % THREADS_PER_ROW;
  var dkAcc: array<vec4<f32>, MAX_SLOTS>;
  var dvAcc: array<vec4<f32>, MAX_SLOTS>;
  // The first query block that can see key k0 is the one holding query k0.
  let firstQ = (k0 / BLOCK_Q) * BLOCK_Q;
  for (var member = 0u; member < bwdParams.groupSize; member++) {
    let head = kvHead * bwdParams.groupSize + member;
    for (var q0 = firstQ; q0 < seqLen; q0 += BLOCK_Q) {
      workgroupBarrier();  // everyone is done reading the previous query block
      stageQueryBlock(lid, DKDV_WG, batch, head, q0);
      workgroupBarrier();
      probabilitiesAndScoreGradients(lid, DKDV_WG, q0, k0);
      workgroupBarrier();
      for (var r = 0u; r < BLOCK_Q; r++) {
        let p = scoreTile[r * BLOCK_K + keyRow];
        let dScore = dScoreTile[r * BLOCK_K + keyRow];
        for (var i = 0u; i < SLOTS; i++) {
          let d = lane + i * THREADS_PER_ROW;
          dvAcc[i] += p * dOutTile[r * ROW4 + d];
          dkAcc[i] += dScore * qTile[r * ROW4 + d];
        }
      }
    }
  }

  let key = k0 + keyRow;
  if (key < seqLen) {
    let base = (batch * seqLen + key) * bwdParams.nKvHeads * D4 + kvHead * D4 + lane;
    for (var i = 0u; i < SLOTS; i++) {
      bwdGradA[base + i * THREADS_PER_ROW] = dkAcc[i] * SCALE;
      bwdGradB[base + i * THREADS_PER_ROW] = dvAcc[i];
    }
  }
}

// One workgroup: BLOCK_Q queries of head wid.y in sequence wid.z (plus offsets), looping over the
// key blocks they can see. bwdGradB is bound but unused (the same bind-group layout as dk/dv).
@compute @workgroup_size(DQ_WG)
fn attention_backward_dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let seqLen = bwdParams.seqLen;
  let head = wid.y + bwdParams.headOffset;
  let batch = wid.z + bwdParams.batchOffset;
  let kvHead = head / bwdParams.groupSize;
  // Later query blocks see more keys: hand them out first.
  let queryBlocks = (seqLen + BLOCK_Q - 1u) / BLOCK_Q;
  let q0 = (queryBlocks - 1u - wid.x) * BLOCK_Q;
  stageQueryBlock(lid, DQ_WG, batch, head, q0);

  let row = lid / THREADS_PER_ROW;
  let lane = lid % THREADS_PER_ROW;
  var dqAcc: array<vec4<f32>, MAX_SLOTS>;
  let keyEnd = min(seqLen, q0 + BLOCK_Q);
  for (var k0 = 0u; k0 < keyEnd; k0 += BLOCK_K) {
    workgroupBarrier();  // everyone is done reading the previous key block
    stageKeyBlock(lid, DQ_WG, batch, kvHead, k0);
    workgroupBarrier();
    probabilitiesAndScoreGradients(lid, DQ_WG, q0, k0);
    workgroupBarrier();
    for (var c = 0u; c < BLOCK_K; c++) {
      let dScore = dScoreTile[row * BLOCK_K + c];
      for (var i = 0u; i < SLOTS; i++) {
        dqAcc[i] += dScore * kTile[c * ROW4 + lane + i * THREADS_PER_ROW];
      }
    }
  }

  let query = q0 + row;
  if (query < seqLen) {
    let base = (batch * seqLen + query) * bwdParams.nHeads * D4 + head * D4 + lane;
    for (var i = 0u; i < SLOTS; i++) {
      bwdGradA[base + i * THREADS_PER_ROW] = dqAcc[i] * SCALE;
    }
  }
}
