// Unigram entropy of a token stream, in nats: the loss of a model that knows only how often each
// token occurs. A trained model must get below it to have learned anything from context (for
// Brown's bytes it is about 3.10 nats, the `tiny` preset's first bar to clear).

/** −Σ p·ln p over the token frequencies of `tokens`, every id below `vocabSize`. */
export function unigramEntropyNats(tokens: ArrayLike<number>, vocabSize: number): number {
  if (tokens.length === 0) throw new Error('unigram entropy of an empty token stream is undefined: pass at least one token');
  const counts = new Float64Array(vocabSize);
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i]!;
    if (!(id >= 0 && id < vocabSize)) throw new Error(`token ${id} at position ${i} is outside the vocabulary [0, ${vocabSize})`);
    counts[id]!++;
  }
  const total = tokens.length;
  let entropy = 0;
  // Summed in id order, so the same tokens give the same bits on every engine with the same Math.log.
  for (const count of counts) if (count > 0) entropy -= (count / total) * Math.log(count / total);
  return entropy;
}
