// Float64 CPU reference for the token embedding (forward gather, backward scatter-add).

/** out[t, c] = table[tokens[t], c]. */
export function embeddingForwardRef(table: ArrayLike<number>, tokens: ArrayLike<number>, T: number, C: number): Float64Array {
  const out = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    const row = tokens[t]! * C;
    for (let c = 0; c < C; c++) out[t * C + c] = table[row + c]!;
  }
  return out;
}

/** dTable[tokens[t], c] += dOut[t, c], starting from `dTableInitial`. */
export function embeddingBackwardRef(
  dTableInitial: ArrayLike<number>,
  dOut: ArrayLike<number>,
  tokens: ArrayLike<number>,
  T: number,
  C: number,
): Float64Array {
  const dTable = Float64Array.from(dTableInitial);
  for (let t = 0; t < T; t++) {
    const row = tokens[t]! * C;
    for (let c = 0; c < C; c++) dTable[row + c]! += dOut[t * C + c]!;
  }
  return dTable;
}
