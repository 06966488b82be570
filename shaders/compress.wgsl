// SparseLoCo's compressor on the GPU, bit-identical to src/sparseloco/compress.ts (whose header
// states the arithmetic rules both follow). Three entry points over one binding layout, recorded
// into one submit for a whole parameter layout:
//   ef_select  one workgroup per chunk: e ← β·e + Δ, then the chunk's top-k by |e| with a
//              workgroup radix select on the bit pattern of |e|, written out in ascending index order
//   quantize   one workgroup per tensor: shift, scale, codes, lookup in the fixed summation order,
//              then e ← e − decoded at the selected positions
//   pack       16-bit indices two to a word, 8-bit codes four to a word, so that the readback is
//              3 bytes per selected value plus 6 words of parameters per tensor

// A tensor's row of the table (u32 words), written by src/kernels/compress.ts.
const T_OFFSET: u32 = 0u;        // floats into `error` / `delta`
const T_COLS: u32 = 1u;
const T_CHUNK_ROWS: u32 = 2u;
const T_CHUNK_COLS: u32 = 3u;
const T_BLOCKS_PER_ROW: u32 = 4u;
const T_K: u32 = 5u;
const T_NUM_CHUNKS: u32 = 6u;
const T_CHUNK_BASE: u32 = 7u;    // first chunk of this tensor in this dispatch's chunk numbering
const T_SEL_BASE: u32 = 8u;      // first selected value of this tensor in sel_* (over all groups)
const T_PARAM_INDEX: u32 = 9u;   // the tensor's number in the whole batch
const TABLE_STRIDE: u32 = 10u;

const PARAM_WORDS: u32 = 6u;     // shift, scale, lookup[4]
const WG: u32 = 256u;            // = REDUCTION_LANES in compress.ts
const PER_THREAD: u32 = 16u;     // WG · PER_THREAD = 4096 = the largest chunk (64 × 64)
const QNAN: u32 = 0x7fc00000u;

struct Params {
  num_tensors: u32,     // in this group
  total_chunks: u32,    // in this group
  has_delta: u32,
  beta: f32,
  guard: u32,           // always 0; unknown to the compiler, so XOR with it blocks fma contraction
  params_base: u32,     // word offset of the per-tensor parameters in `packed`
  total_selected: u32,  // over all groups
  padded_selected: u32, // total_selected rounded up to a multiple of 4
  chunk_offset: u32,    // ef_select: this dispatch's first chunk (a group too long for one submission runs as several)
}

@group(0) @binding(0) var<storage, read> tensors: array<u32>;
@group(0) @binding(1) var<storage, read> delta: array<f32>;
@group(0) @binding(2) var<storage, read_write> error: array<f32>;
@group(0) @binding(3) var<storage, read_write> sel_index: array<u32>;
@group(0) @binding(4) var<storage, read_write> sel_value: array<f32>;
@group(0) @binding(5) var<storage, read_write> sel_code: array<u32>;
@group(0) @binding(6) var<storage, read_write> packed: array<u32>;
@group(0) @binding(7) var<uniform> params: Params;

// ---- arithmetic that is the same on every adapter ----------------------------------------------

// Subnormals and −0 become +0 (integer test: immune to fast-math assumptions about NaN).
fn ftz(x: f32) -> f32 {
  return select(x, 0.0, (bitcast<u32>(x) & 0x7f800000u) == 0u);
}

fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// The product is rounded on its own: no compiler can fuse it into a following add through this.
fn launder(x: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(x) ^ params.guard);
}

// a / b correctly rounded (ties to even), for finite a and b > 0 normal, by integer long division
// (WGSL's own division is only accurate to 2.5 ulp). Results below 2^-126 flush to ±0.
fn div_exact(a: f32, b: f32) -> f32 {
  let ab = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let sign = ab & 0x80000000u;
  let ea = (ab >> 23u) & 0xffu;
  let eb = (bb >> 23u) & 0xffu;
  if (ea == 0u) {
    return 0.0;
  }
  let mb = (bb & 0x7fffffu) | 0x800000u;
  var r = (ab & 0x7fffffu) | 0x800000u;
  var e = i32(ea) - i32(eb) + 127;
  if (r < mb) {
    r = r << 1u;
    e = e - 1;
  }
  // mb ≤ r < 2·mb: 25 quotient bits (the leading 1, 23 fraction bits, a rounding bit).
  var q = 0u;
  for (var i = 0u; i < 25u; i = i + 1u) {
    q = q << 1u;
    if (r >= mb) {
      r = r - mb;
      q = q | 1u;
    }
    r = r << 1u;
  }
  var mant = q >> 1u;
  if ((q & 1u) == 1u && (r != 0u || (mant & 1u) == 1u)) {
    mant = mant + 1u;
  }
  if (mant == 0x1000000u) {
    mant = 0x800000u;
    e = e + 1;
  }
  if (e <= 0) {
    return 0.0;
  }
  if (e >= 255) {
    return bitcast<f32>(sign | 0x7f800000u);
  }
  return bitcast<f32>(sign | (u32(e) << 23u) | (mant & 0x7fffffu));
}

// √x correctly rounded, for x ≥ 0 (0 or normal), digit by digit on integers.
fn sqrt_exact(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  let ex = (bits >> 23u) & 0xffu;
  if (ex == 0u) {
    return 0.0;
  }
  var m = (bits & 0x7fffffu) | 0x800000u;
  var e = i32(ex) - 127;
  if ((e & 1) != 0) {
    m = m << 1u;
    e = e - 1;
  }
  // x = (m / 2^23)·2^e with e even and m / 2^23 in [1, 4): the root's 25 leading bits are
  // isqrt(m · 2^25), taken two radicand bits at a time (the remainder stays below 2^27).
  var root = 0u;
  var rem = 0u;
  for (var i = 0; i < 25; i = i + 1) {
    let s = 23 - 2 * i;
    var pair = 0u;
    if (s >= 0) {
      pair = (m >> u32(s)) & 3u;
    } else if (s == -1) {
      pair = (m << 1u) & 3u;
    }
    rem = (rem << 2u) | pair;
    let trial = (root << 2u) | 1u;
    if (rem >= trial) {
      rem = rem - trial;
      root = (root << 1u) | 1u;
    } else {
      root = root << 1u;
    }
  }
  var mant = root >> 1u;
  if ((root & 1u) == 1u && (rem != 0u || (mant & 1u) == 1u)) {
    mant = mant + 1u;
  }
  var biased = e / 2 + 127;
  if (mant == 0x1000000u) {
    mant = 0x800000u;
    biased = biased + 1;
  }
  return bitcast<f32>((u32(biased) << 23u) | (mant & 0x7fffffu));
}

// ---- ef_select ---------------------------------------------------------------------------------

var<workgroup> histogram: array<atomic<u32>, 256>;
var<workgroup> scan: array<u32, 256>;
var<workgroup> radix_state: vec2<u32>; // (key prefix found so far, ties still to take)

fn find_tensor(chunk: u32) -> u32 {
  var lo = 0u;
  var hi = params.num_tensors - 1u;
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (tensors[mid * TABLE_STRIDE + T_CHUNK_BASE] <= chunk) {
      lo = mid;
    } else {
      hi = mid - 1u;
    }
  }
  return lo * TABLE_STRIDE;
}

@compute @workgroup_size(WG)
fn ef_select(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let chunk_in_group = wid.x + wid.y * nwg.x + params.chunk_offset;
  if (chunk_in_group >= params.total_chunks) {
    return;
  }
  let t = find_tensor(chunk_in_group);
  let cols = tensors[t + T_COLS];
  let chunk_rows = tensors[t + T_CHUNK_ROWS];
  let chunk_cols = tensors[t + T_CHUNK_COLS];
  let k = tensors[t + T_K];
  let chunk = chunk_in_group - tensors[t + T_CHUNK_BASE];
  let block_row = chunk / tensors[t + T_BLOCKS_PER_ROW];
  let block_col = chunk - block_row * tensors[t + T_BLOCKS_PER_ROW];
  let base = tensors[t + T_OFFSET] + block_row * chunk_rows * cols + block_col * chunk_cols;
  let chunk_size = chunk_rows * chunk_cols;

  // Each thread owns PER_THREAD consecutive in-chunk indices, so that index order is thread order.
  let first = lid * PER_THREAD;
  let mine = min(select(0u, chunk_size - first, first < chunk_size), PER_THREAD);
  var values: array<f32, PER_THREAD>;
  var keys: array<u32, PER_THREAD>;
  for (var j = 0u; j < mine; j = j + 1u) {
    let i = first + j;
    let row = i / chunk_cols;
    let at = base + row * cols + (i - row * chunk_cols);
    let decayed = launder(ftz(params.beta * ftz(error[at])));
    var d = 0.0;
    if (params.has_delta != 0u) {
      d = ftz(delta[at]);
    }
    let v = ftz(decayed + d);
    error[at] = v;
    values[j] = v;
    keys[j] = bitcast<u32>(v) & 0x7fffffffu; // |v|'s pattern: ordered like |v|, NaN above +Inf
  }

  // Radix select, one byte a pass from the top: finds the k-th largest key and how many of the
  // keys equal to it are kept (the lowest indices among them).
  var prefix = 0u;
  var mask = 0u;
  var ties = k;
  for (var digit = 0u; digit < 4u; digit = digit + 1u) {
    let shift = 24u - 8u * digit;
    atomicStore(&histogram[lid], 0u);
    workgroupBarrier();
    for (var j = 0u; j < mine; j = j + 1u) {
      if ((keys[j] & mask) == prefix) {
        atomicAdd(&histogram[(keys[j] >> shift) & 0xffu], 1u);
      }
    }
    workgroupBarrier();
    if (lid == 0u) {
      var remaining = ties;
      var bin = 255u;
      loop {
        let count = atomicLoad(&histogram[bin]);
        if (count >= remaining || bin == 0u) {
          break;
        }
        remaining = remaining - count;
        bin = bin - 1u;
      }
      radix_state = vec2<u32>(prefix | (bin << shift), remaining);
    }
    let state = workgroupUniformLoad(&radix_state);
    prefix = state.x;
    ties = state.y;
    mask = mask | (0xffu << shift);
  }

  // Ascending-index compaction: a scan of (keys above, keys equal) counts, 16 bits each.
  var above = 0u;
  var equal = 0u;
  for (var j = 0u; j < mine; j = j + 1u) {
    above = above + select(0u, 1u, keys[j] > prefix);
    equal = equal + select(0u, 1u, keys[j] == prefix);
  }
  let own = above | (equal << 16u);
  scan[lid] = own;
  workgroupBarrier();
  for (var offset = 1u; offset < WG; offset = offset << 1u) {
    var add = 0u;
    if (lid >= offset) {
      add = scan[lid - offset];
    }
    workgroupBarrier();
    scan[lid] = scan[lid] + add;
    workgroupBarrier();
  }
  let before = scan[lid] - own;
  var above_before = before & 0xffffu;
  var equal_before = before >> 16u;
  let out_base = tensors[t + T_SEL_BASE] + chunk * k;
  for (var j = 0u; j < mine; j = j + 1u) {
    let key = keys[j];
    if (key > prefix || (key == prefix && equal_before < ties)) {
      let slot = out_base + above_before + min(equal_before, ties);
      sel_index[slot] = first + j;
      sel_value[slot] = values[j];
    }
    above_before = above_before + select(0u, 1u, key > prefix);
    equal_before = equal_before + select(0u, 1u, key == prefix);
  }
}

// ---- quantize ----------------------------------------------------------------------------------

var<workgroup> lane_sum: array<f32, WG>;
var<workgroup> lane_flag: array<u32, WG>;
var<workgroup> lane_bins: array<vec4<f32>, WG>;
var<workgroup> lane_counts: array<vec4<u32>, WG>;
var<workgroup> tensor_state: array<u32, 8>; // shift, scale, poisoned, lookup[4] (f32 as bits)

@compute @workgroup_size(WG)
fn quantize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x * TABLE_STRIDE;
  let k = tensors[t + T_K];
  let num_chunks = tensors[t + T_NUM_CHUNKS];
  let n = num_chunks * k;
  let sel_base = tensors[t + T_SEL_BASE];
  // The fixed summation order: lane `lid` sums a contiguous run of whole chunks.
  let lane_chunks = (num_chunks + WG - 1u) / WG;
  let a = min(lid * lane_chunks * k, n);
  let b = min((lid + 1u) * lane_chunks * k, n);

  var acc = 0.0;
  var bad = 0u;
  for (var i = a; i < b; i = i + 1u) {
    let v = sel_value[sel_base + i];
    bad = bad | select(1u, 0u, is_finite(v));
    acc = ftz(acc + v);
  }
  lane_sum[lid] = acc;
  lane_flag[lid] = bad;
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0.0;
    var poisoned = 0u;
    for (var l = 0u; l < WG; l = l + 1u) {
      total = ftz(total + lane_sum[l]);
      poisoned = poisoned | lane_flag[l];
    }
    poisoned = poisoned | select(1u, 0u, is_finite(total));
    tensor_state[0] = bitcast<u32>(select(0.0, ftz(div_exact(total, f32(n))), poisoned == 0u));
    tensor_state[2] = poisoned;
  }
  let shift = bitcast<f32>(workgroupUniformLoad(&tensor_state[0]));

  acc = 0.0;
  for (var i = a; i < b; i = i + 1u) {
    let c = ftz(sel_value[sel_base + i] - shift);
    acc = ftz(acc + launder(ftz(c * c)));
  }
  lane_sum[lid] = acc;
  workgroupBarrier();
  if (lid == 0u) {
    var sum_squares = 0.0;
    for (var l = 0u; l < WG; l = l + 1u) {
      sum_squares = ftz(sum_squares + lane_sum[l]);
    }
    var poisoned = tensor_state[2] | select(1u, 0u, is_finite(sum_squares));
    var scale = 0.0;
    if (poisoned == 0u && n > 1u) {
      scale = ftz(1.5 * sqrt_exact(ftz(div_exact(sum_squares, f32(n - 1u)))));
    }
    tensor_state[1] = bitcast<u32>(scale);
    tensor_state[2] = poisoned;
  }
  let scale = bitcast<f32>(workgroupUniformLoad(&tensor_state[1]));
  let poisoned = workgroupUniformLoad(&tensor_state[2]) != 0u;

  let t0 = ftz(-1.5 * scale);
  let t1 = ftz(-0.5 * scale);
  let t2 = ftz(0.5 * scale);
  var bins = vec4<f32>(0.0);
  var counts = vec4<u32>(0u);
  for (var i = a; i < b; i = i + 1u) {
    let c = ftz(sel_value[sel_base + i] - shift);
    var code = select(0u, 1u, c >= t0) + select(0u, 1u, c >= t1) + select(0u, 1u, c >= t2);
    if (scale == 0.0) {
      code = 2u;
    }
    if (poisoned) {
      code = 0u;
    }
    sel_code[sel_base + i] = code;
    bins[code] = ftz(bins[code] + c);
    counts[code] = counts[code] + 1u;
  }
  lane_bins[lid] = bins;
  lane_counts[lid] = counts;
  workgroupBarrier();
  if (lid == 0u) {
    var sums = vec4<f32>(0.0);
    var totals = vec4<u32>(0u);
    for (var l = 0u; l < WG; l = l + 1u) {
      let s = lane_bins[l];
      sums = vec4<f32>(ftz(sums.x + s.x), ftz(sums.y + s.y), ftz(sums.z + s.z), ftz(sums.w + s.w));
      totals = totals + lane_counts[l];
    }
    let param_at = params.params_base + tensors[t + T_PARAM_INDEX] * PARAM_WORDS;
    for (var bin = 0u; bin < 4u; bin = bin + 1u) {
      var mean = 0.0;
      if (totals[bin] > 0u) {
        mean = ftz(div_exact(sums[bin], f32(totals[bin])));
      }
      var word = bitcast<u32>(mean);
      if (poisoned) {
        word = QNAN;
      }
      tensor_state[3u + bin] = word;
      packed[param_at + 2u + bin] = word;
    }
    packed[param_at] = select(bitcast<u32>(shift), QNAN, poisoned);
    packed[param_at + 1u] = select(bitcast<u32>(scale), QNAN, poisoned);
  }
  workgroupBarrier();
  let lookup = vec4<f32>(bitcast<f32>(tensor_state[3]), bitcast<f32>(tensor_state[4]),
                         bitcast<f32>(tensor_state[5]), bitcast<f32>(tensor_state[6]));

  // e ← e − decoded at the selected positions.
  let offset = tensors[t + T_OFFSET];
  let cols = tensors[t + T_COLS];
  let chunk_rows = tensors[t + T_CHUNK_ROWS];
  let chunk_cols = tensors[t + T_CHUNK_COLS];
  let blocks_per_row = tensors[t + T_BLOCKS_PER_ROW];
  for (var i = a; i < b; i = i + 1u) {
    let chunk = i / k;
    let block_row = chunk / blocks_per_row;
    let block_col = chunk - block_row * blocks_per_row;
    let index = sel_index[sel_base + i];
    let row = index / chunk_cols;
    let at = offset + (block_row * chunk_rows + row) * cols + block_col * chunk_cols + (index - row * chunk_cols);
    let decoded = ftz(lookup[sel_code[sel_base + i]] + shift);
    // NaN cannot be a WGSL constant: made from the runtime zero.
    error[at] = select(ftz(sel_value[sel_base + i] - decoded), bitcast<f32>(QNAN ^ params.guard), poisoned);
  }
}

// ---- pack --------------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = gid.x + gid.y * nwg.x * WG;
  if (w * 4u >= params.padded_selected) {
    return;
  }
  var index_words = vec2<u32>(0u);
  var code_word = 0u;
  for (var j = 0u; j < 4u; j = j + 1u) {
    let q = w * 4u + j;
    if (q < params.total_selected) {
      index_words[j / 2u] = index_words[j / 2u] | (sel_index[q] << (16u * (j % 2u)));
      code_word = code_word | (sel_code[q] << (8u * j));
    }
  }
  packed[2u * w] = index_words.x;
  packed[2u * w + 1u] = index_words.y;
  packed[params.padded_selected / 2u + w] = code_word;
}
