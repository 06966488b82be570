// Text that a peer, a hub or any stranger controls, made safe to print on one log line: control
// characters (newlines, ANSI escapes, C1 codes), Unicode line separators and bidirectional
// overrides are written as visible escapes, so that nobody can forge a log line, recolour a
// terminal or reorder what an operator reads; and the text is cut to a length that keeps one
// line one line. Every log line holding such text goes through `printable`.

const MAX_LOG_TEXT_CHARS = 1000;

// C0 and C1 controls, DEL, the line/paragraph separators and the bidirectional marks and overrides.
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control character escaped (`\n`, `\u001b`, …), at most `maxChars` characters of it kept. */
export function printable(text: string, maxChars = MAX_LOG_TEXT_CHARS): string {
  const cut = text.length > maxChars ? `${text.slice(0, maxChars)}… (${text.length - maxChars} more characters)` : text;
  return cut.replace(UNPRINTABLE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
