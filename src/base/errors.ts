// The project's one error shape: a message that says what went wrong and what to do, and a code a
// program can branch on. Codes are kebab-case everywhere ('bad-signature', 'truncated'), the
// spelling docs/PROTOCOL.md uses for every code that crosses the wire.

/** An error with a code from a closed set; each subsystem narrows `Code` to its own union. */
export class CodedError<Code extends string = string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    // The subclass's own name (ChainError, CodecError, …) in stack traces and messages.
    this.name = new.target.name;
  }
}

/** What to show for anything thrown: an Error's message, else its string form. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An Error for anything thrown, for APIs that take one (stream.abort, AbortController.abort). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
