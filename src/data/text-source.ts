// Where training text comes from: a `TextSource` yields whole documents of plain text. The shard
// builder splits train / held-out by document, so a source must give each document a stable id.

export interface TextDocument {
  /** Stable within the source (a file name, a row key): the train / held-out split hashes it. */
  readonly id: string;
  /** Plain text: paragraphs separated by '\n', no markup. */
  readonly text: string;
}

export interface TextSource {
  /** Short machine name recorded in manifests, e.g. 'brown'. */
  readonly name: string;
  /** One line for people: what the text is and where it came from. */
  readonly description: string;
  /** Every document, always in the same order. */
  documents(): Promise<TextDocument[]>;
}
