// Float64 CPU reference for the matmul kernel family: out[M,N] (+)= op(a)·op(b), with the same
// layouts as src/kernels/matmul.ts. Also returns, per output, Σ|a||b| (+ |out| when
// accumulating), the scale that f32 rounding error is bounded by.

export interface MatmulReferenceArgs {
  a: ArrayLike<number>;
  b: ArrayLike<number>;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** The previous contents of out, added when given. */
  accumulateInto?: ArrayLike<number>;
}

export interface MatmulReference {
  out: Float64Array;
  /** Σ_k |op(a)[m,k]·op(b)[k,n]| (+ |previous out|): the rounding-error scale per element. */
  magnitude: Float64Array;
}

export function matmulReference(args: MatmulReferenceArgs): MatmulReference {
  const { a, b, M, N, K } = args;
  const out = new Float64Array(M * N);
  const magnitude = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      let mag = 0;
      for (let k = 0; k < K; k++) {
        const x = args.transA ? a[k * M + m]! : a[m * K + k]!;
        const y = args.transB ? b[n * K + k]! : b[k * N + n]!;
        sum += x * y;
        mag += Math.abs(x * y);
      }
      if (args.accumulateInto) {
        const previous = args.accumulateInto[m * N + n]!;
        sum += previous;
        mag += Math.abs(previous);
      }
      out[m * N + n] = sum;
      magnitude[m * N + n] = mag;
    }
  }
  return { out, magnitude };
}
