// Float64 reference for SparseLoCo's top-k + 2-bit quantization, written independently of
// src/sparseloco/compress.ts: top-k by sorting each chunk (not radix select), flat indices by
// walking the tile geometry by hand, and quantization in float64. It takes the error tensor after
// error feedback (the f32 values the compressor ranks) and says what the payload should be.
export interface ReferencePayload {
  /** In-chunk indices, ascending within each chunk, numChunks·k. */
  indices: number[];
  /** The selected values (as given, f32), aligned with indices. */
  values: number[];
  /** Flat positions of the selected values. */
  flat: number[];
  shift: number;
  scale: number;
  /** c/scale + 2 for each selected value (the code before rounding). */
  position: number[];
  codes: number[];
  lookup: number[];
}

export function compressReference64(
  errorAfterFeedback: Float32Array,
  rows: number,
  cols: number,
  chunkRows: number,
  chunkCols: number,
  k: number,
): ReferencePayload {
  const indices: number[] = [];
  const values: number[] = [];
  const flat: number[] = [];
  for (let br = 0; br < rows / chunkRows; br++) {
    for (let bc = 0; bc < cols / chunkCols; bc++) {
      const members: { index: number; at: number; magnitude: number }[] = [];
      for (let r = 0; r < chunkRows; r++) {
        for (let c = 0; c < chunkCols; c++) {
          const at = (br * chunkRows + r) * cols + bc * chunkCols + c;
          const v = errorAfterFeedback[at]!;
          members.push({ index: r * chunkCols + c, at, magnitude: Number.isNaN(v) ? Infinity : Math.abs(v) });
        }
      }
      const top = [...members].sort((a, b) => b.magnitude - a.magnitude || a.index - b.index).slice(0, k);
      top.sort((a, b) => a.index - b.index);
      for (const m of top) {
        indices.push(m.index);
        values.push(errorAfterFeedback[m.at]!);
        flat.push(m.at);
      }
    }
  }
  const n = values.length;
  const shift = values.reduce((s, v) => s + v, 0) / n;
  const centred = values.map((v) => v - shift);
  const std = n > 1 ? Math.sqrt(centred.reduce((s, c) => s + c * c, 0) / (n - 1)) : 0;
  const scale = (6 * std) / 4;
  const position = centred.map((c) => (scale > 0 ? c / scale + 2 : 2));
  const codes = position.map((p) => Math.min(3, Math.max(0, Math.sign(p) * Math.floor(Math.abs(p) + 0.5))));
  const lookup = [0, 1, 2, 3].map((b) => {
    const members = centred.filter((_, i) => codes[i] === b);
    return members.length ? members.reduce((s, c) => s + c, 0) / members.length : 0;
  });
  return { indices, values, flat, shift, scale, position, codes, lookup };
}
