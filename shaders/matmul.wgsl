// Matrix multiply, the op that dominates training: out[M,N] (+)= op(a)·op(b), row-major f32.
// op(a) = a [M,K], or aᵀ with a stored [K,M] (TRANS_A); op(b) = b [K,N], or bᵀ with b stored
// [N,K] (TRANS_B). The model uses NT (y = x·Wᵀ), NN (dX += dY·W) and TN (dW += dYᵀ·X).
//
// Design (the classic register-blocked SGEMM, as in tfjs matmul_packed and CUDA's sgemm):
// - A workgroup of S×S threads owns a BM×BN = 8S×8S output tile; each thread owns 8×8 outputs
//   held as 16 vec4 registers, rows {4ty..4ty+3, BM/2+4ty..} and the same split for columns, so
//   a warp's loads from workgroup memory are broadcasts or contiguous and its stores coalesce.
// - K advances in steps of BK = S. Both operand tiles are staged in workgroup memory K-major
//   (tileA[k][m], tileB[k][n]) whatever the global layout, so the inner loop is the same for every
//   variant: per k, two vec4 of A and two vec4 of B feed 64 multiply-adds.
// - Each thread stages exactly two vec4 of A and two of B per K-step (BM·BK = 8·S·S), and loads
//   the next K-step from global memory into registers while it computes on the current one.
// - Workgroup memory is addressed in vec4 slots with an XOR swizzle (slot q of row k lives at
//   q ^ (k & 7)): transposing stores then hit distinct banks, and row reads stay contiguous.
// - CHECKED = false is the fast path, valid only when BM | M, BN | N and BK | K; CHECKED = true
//   bounds-checks every load and store for odd shapes.
// - Dispatch grid: x over column tiles, y over row tiles; the launcher splits grids larger than
//   maxComputeWorkgroupsPerDimension, or products too long for one submission, into several
//   dispatches shifted by the params' tile offsets (and split-K slice offset).
// - Split-K (weight gradients: K = tokens is large, the output small): grid z is a slice of
//   kChunk along K; slice z writes its partial product to out + z·splitStride (never
//   accumulating), and matmul_splitk_reduce sums the slices in order z = 0, 1, ... into the real
//   output. A fixed order and no atomics, so the result is bit-reproducible.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  accumulate: u32,
  // (row tile, column tile) of this dispatch's workgroup (0, 0).
  rowTileOffset: u32,
  colTileOffset: u32,
  // K per split-K slice (a multiple of BK; ≥ K when not split), and floats between slices' outputs.
  kChunk: u32,
  splitStride: u32,
  // The split-K slice of this dispatch's z = 0: a tile too long for one submission runs its slices
  // in several dispatches.
  splitOffset: u32,
}

// Bindings 0 and 1 (a, b) and their loads load_a / load_b come from matmul-inputs-f32.wgsl or,
// on the f16 path, matmul-inputs-f16.wgsl (src/kernels/matmul.ts prepends one).
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// Threads per side: 8 or 16 (a power of two >= 4, so the XOR swizzle stays inside a tile row).
override S: u32 = 16u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override CHECKED: bool = true;

const THREAD_TILE: u32 = 8u;
// Derived from S (overrides because S is); the launcher never sets them.
override BM: u32 = THREAD_TILE * S;
override BK: u32 = S;
override THREADS: u32 = S * S;
// vec4 slots per tile row (a row is one k); equal for A and B since BM = BN.
override ROW_SLOTS: u32 = BM / 4u;

var<workgroup> tileA: array<vec4<f32>, 2u * S * S>;
var<workgroup> tileB: array<vec4<f32>, 2u * S * S>;

// Where a staged vec4 lands: row k of the K-major tile, swizzled slot.
fn swizzled(k: u32, slot: u32) -> u32 {
  return k * ROW_SLOTS + (slot ^ (k & 7u));
}

// Which (k, slot) of a tile the thread's `index`-th staged vec4 covers. When the operand's
// contiguous global dimension is K (a untransposed, b transposed), consecutive threads walk k so
// their global loads coalesce, and each thread gathers 4 rows at one k; otherwise consecutive
// threads walk the contiguous m (or n) and each loads 4 adjacent values.
fn stagedCoord(index: u32, kContiguous: bool) -> vec2<u32> {
  if (kContiguous) {
    return vec2<u32>(index % BK, index / BK);
  }
  return vec2<u32>(index / ROW_SLOTS, index % ROW_SLOTS);
}

fn loadA(row: u32, k: u32) -> f32 {
  // a is [M,K], or [K,M] when transposed.
  if (CHECKED && (row >= params.M || k >= params.K)) {
    return 0.0;
  }
  if (TRANS_A) {
    return load_a(k * params.M + row);
  }
  return load_a(row * params.K + k);
}

fn loadB(col: u32, k: u32) -> f32 {
  // b is [K,N], or [N,K] when transposed.
  if (CHECKED && (col >= params.N || k >= params.K)) {
    return 0.0;
  }
  if (TRANS_B) {
    return load_b(col * params.K + k);
  }
  return load_b(k * params.N + col);
}

fn fetchA(index: u32, row0: u32, k0: u32) -> vec4<f32> {
  let c = stagedCoord(index, !TRANS_A);
  let row = row0 + c.y * 4u;
  let k = k0 + c.x;
  return vec4<f32>(loadA(row, k), loadA(row + 1u, k), loadA(row + 2u, k), loadA(row + 3u, k));
}

fn fetchB(index: u32, col0: u32, k0: u32) -> vec4<f32> {
  let c = stagedCoord(index, TRANS_B);
  let col = col0 + c.y * 4u;
  let k = k0 + c.x;
  return vec4<f32>(loadB(col, k), loadB(col + 1u, k), loadB(col + 2u, k), loadB(col + 3u, k));
}

fn storeOut(row: u32, col: u32, slice: u32, value: vec4<f32>) {
  if (CHECKED && row >= params.M) {
    return;
  }
  let base = slice * params.splitStride + row * params.N + col;
  let accumulate = params.accumulate != 0u;
  if (!CHECKED || col + 3u < params.N) {
    var v = value;
    if (accumulate) {
      v += vec4<f32>(out[base], out[base + 1u], out[base + 2u], out[base + 3u]);
    }
    out[base] = v.x;
    out[base + 1u] = v.y;
    out[base + 2u] = v.z;
    out[base + 3u] = v.w;
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    if (col + j < params.N) {
      var v = value[j];
      if (accumulate) {
        v += out[base + j];
      }
      out[base + j] = v;
    }
  }
}

@compute @workgroup_size(S, S)
fn matmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let thread = ty * S + tx;
  let row0 = (wid.y + params.rowTileOffset) * BM;
  let col0 = (wid.x + params.colTileOffset) * BM;
  let half = ROW_SLOTS / 2u;
  // This workgroup's slice of K: [kBegin, kBegin + kSteps·BK), clipped to K by the checked loads.
  let slice = wid.z + params.splitOffset;
  let kBegin = slice * params.kChunk;
  let kSteps = (min(params.K - kBegin, params.kChunk) + BK - 1u) / BK;

  // acc[2i + h]: row i of this thread's 8 (i < 4: 4ty + i, else BM/2 + 4ty + i - 4), columns
  // 4tx..4tx+3 (h = 0) or BN/2 + 4tx.. (h = 1). Constant indices keep it in registers.
  var acc: array<vec4<f32>, 16>;

  var nextA0 = fetchA(thread, row0, kBegin);
  var nextA1 = fetchA(thread + THREADS, row0, kBegin);
  var nextB0 = fetchB(thread, col0, kBegin);
  var nextB1 = fetchB(thread + THREADS, col0, kBegin);

  for (var step = 0u; step < kSteps; step++) {
    workgroupBarrier(); // everyone is done reading the previous K-step
    var c = stagedCoord(thread, !TRANS_A);
    tileA[swizzled(c.x, c.y)] = nextA0;
    c = stagedCoord(thread + THREADS, !TRANS_A);
    tileA[swizzled(c.x, c.y)] = nextA1;
    c = stagedCoord(thread, TRANS_B);
    tileB[swizzled(c.x, c.y)] = nextB0;
    c = stagedCoord(thread + THREADS, TRANS_B);
    tileB[swizzled(c.x, c.y)] = nextB1;
    workgroupBarrier();

    if (step + 1u < kSteps) {
      // Global loads for the next step fly while this step computes.
      let k0 = kBegin + (step + 1u) * BK;
      nextA0 = fetchA(thread, row0, k0);
      nextA1 = fetchA(thread + THREADS, row0, k0);
      nextB0 = fetchB(thread, col0, k0);
      nextB1 = fetchB(thread + THREADS, col0, k0);
    }

    for (var k = 0u; k < BK; k++) {
      let a0 = tileA[swizzled(k, ty)];
      let a1 = tileA[swizzled(k, half + ty)];
      let b0 = tileB[swizzled(k, tx)];
      let b1 = tileB[swizzled(k, half + tx)];
      acc[0] += a0.x * b0;
      acc[1] += a0.x * b1;
      acc[2] += a0.y * b0;
      acc[3] += a0.y * b1;
      acc[4] += a0.z * b0;
      acc[5] += a0.z * b1;
      acc[6] += a0.w * b0;
      acc[7] += a0.w * b1;
      acc[8] += a1.x * b0;
      acc[9] += a1.x * b1;
      acc[10] += a1.y * b0;
      acc[11] += a1.y * b1;
      acc[12] += a1.z * b0;
      acc[13] += a1.z * b1;
      acc[14] += a1.w * b0;
      acc[15] += a1.w * b1;
    }
  }

  // Unrolled on purpose: with a loop, NVIDIA's compiler kept acc in local memory on the
  // bounds-checked path (10x slower on an H100).
  let rowLo = row0 + 4u * ty;
  let rowHi = row0 + BM / 2u + 4u * ty;
  let colLo = col0 + 4u * tx;
  let colHi = col0 + BM / 2u + 4u * tx;
  storeOut(rowLo, colLo, slice, acc[0]);
  storeOut(rowLo, colHi, slice, acc[1]);
  storeOut(rowLo + 1u, colLo, slice, acc[2]);
  storeOut(rowLo + 1u, colHi, slice, acc[3]);
  storeOut(rowLo + 2u, colLo, slice, acc[4]);
  storeOut(rowLo + 2u, colHi, slice, acc[5]);
  storeOut(rowLo + 3u, colLo, slice, acc[6]);
  storeOut(rowLo + 3u, colHi, slice, acc[7]);
  storeOut(rowHi, colLo, slice, acc[8]);
  storeOut(rowHi, colHi, slice, acc[9]);
  storeOut(rowHi + 1u, colLo, slice, acc[10]);
  storeOut(rowHi + 1u, colHi, slice, acc[11]);
  storeOut(rowHi + 2u, colLo, slice, acc[12]);
  storeOut(rowHi + 2u, colHi, slice, acc[13]);
  storeOut(rowHi + 3u, colLo, slice, acc[14]);
  storeOut(rowHi + 3u, colHi, slice, acc[15]);
}

// Split-K reduction: out[i] (+)= Σ_z partials[z·n + i] for z = 0 .. splits−1, in that order.
struct ReduceParams {
  n: u32,
  splits: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<storage, read> red_partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> red_out: array<f32>;
@group(0) @binding(2) var<uniform> red_params: ReduceParams;

override REDUCE_WG: u32 = 256u;

@compute @workgroup_size(REDUCE_WG)
fn matmul_splitk_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * REDUCE_WG;
  let n = red_params.n;
  if (i >= n) {
    return;
  }
  var sum = red_partials[i];
  for (var z = 1u; z < red_params.splits; z++) {
    sum += red_partials[z * n + i];
  }
  if (red_params.accumulate != 0u) {
    sum = red_out[i] + sum;
  }
  red_out[i] = sum;
}
