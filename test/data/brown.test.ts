// The Brown corpus back to plain text: tags stripped from real tagged lines, punctuation and
// quotes re-attached, paragraphs kept, and the whole corpus read from node_modules.
import { describe, expect, it } from 'vitest';
import { brownToText, stripBrownTags } from '../../src/data/brown.ts';
import { unigramEntropyNats } from '../../src/data/entropy.ts';
import { brownCorpus } from '../../src/data/node.ts';

describe('Brown corpus', () => {
  it('strips part-of-speech tags from real lines and re-attaches punctuation', () => {
    // ca01, first sentence, verbatim.
    expect(
      stripBrownTags(
        "\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.",
      ),
    ).toBe(
      'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
    );
    // ck01: a quote that opens the line, a contraction tagged with '+', commas inside quotes.
    expect(stripBrownTags("Scotty/np murmured/vbd ,/, ``/`` No/rb ,/, thanks/nns ''/'' ,/, so/ql softly/rb")).toBe(
      'Scotty murmured, "No, thanks", so softly',
    );
    expect(stripBrownTags("He/pps said/vbd more/ql loudly/rb ,/, ``/`` I'm/ppss+bem full/jj ,/, old/jj Pop/np ''/'' ./.")).toBe(
      'He said more loudly, "I\'m full, old Pop".',
    );
    // A word that itself holds a slash keeps it; brackets hug their contents; dashes stay spaced.
    expect(stripBrownTags('a/at 1-1/2/cd inch/nn (/( 38/cd mm/nns )/) gap/nn --/-- wide/jj')).toBe('a 1-1/2 inch (38 mm) gap -- wide');
    // An abbreviation's period also ends the sentence: one period, not two.
    expect(stripBrownTags('won/vbn by/in Ivan/np Allen/np Jr./np ./.')).toBe('won by Ivan Allen Jr.');
  });

  it('keeps one line per paragraph, sentences joined by spaces', () => {
    const raw = '\n\n\tFirst/od sentence/nn ./.\nSecond/od one/cd ./.\n\n\n\tNew/jj paragraph/nn !/.\n';
    expect(brownToText(raw)).toBe('First sentence. Second one.\nNew paragraph!');
  });

  it('reads all 500 documents as plain text with no tags left', async () => {
    const documents = await brownCorpus().documents();
    expect(documents).toHaveLength(500);
    expect(documents[0]!.id).toBe('ca01');
    expect(documents.at(-1)!.id).toBe('cr09');
    const text = documents.map((d) => d.text).join('\n');
    // Tags look like 'word/nn', 'word/np-tl': none may survive. (Real text has slashes too, as in
    // cj76's "B.t.u./sq. ft./hr./in. of thickness", so a tag must end at a space to count.)
    expect(text.match(/\S\/(?:at|nn|nns|np|vbd|in|jj|cc|rb|pps)(?:-tl|-hl)?(?=\s|$)/g)).toBeNull();
    // Brown's `` and '' quote tokens became '"'; what '' is left are inch marks ("4' 10''").
    expect(text).not.toContain('``');
    expect(text).not.toContain(" ''");
    const bytes = new TextEncoder().encode(text);
    // ENVIRONMENT.md: about 6.2 MB once tags are stripped, byte unigram entropy about 3.10 nats.
    expect(bytes.length).toBeGreaterThan(5.5e6);
    expect(bytes.length).toBeLessThan(6.5e6);
    expect(unigramEntropyNats(bytes, 256)).toBeCloseTo(3.09, 1);
  });
});
