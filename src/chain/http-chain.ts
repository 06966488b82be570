// The Chain as a browser (or any peer) sees a hub's dev chain: it reads blocks over the hub's
// HTTP API (routes.ts), verifies every one from genesis with ChainVerifier (hash chain, authority
// seal, every extrinsic replayed), and answers reads from the state it replayed itself, so the hub
// cannot show it a commit, binding or decision that is not in a valid block. Submissions go to
// POST /api/chain/extrinsics. Browser-safe (fetch only).
// Syncing verifies every block since genesis: about 2 ms a block here, so a day of 1 s blocks
// takes minutes; long runs will need a trusted checkpoint to start from.
import type { SignedAnnouncement } from '../identity/announcement.ts';
import type { SignedBinding, VerifiedBinding } from '../identity/binding.ts';
import { errorMessage } from '../base/errors.ts';
import { printable } from '../base/log-text.ts';
import type { Hex } from '../identity/fields.ts';
import { cryptoReady } from '../identity/keys.ts';
import type { Block } from './block.ts';
import type { BindingRules, Chain, ChainHead, Inclusion, Metagraph } from './chain.ts';
import { ChainError, type ChainErrorCode, type SignedDecision, type SignedWeights } from './extrinsics.ts';
import type { RoundClock } from './round-clock.ts';
import { ChainVerifier } from './verify.ts';

const PAGE = 1000;

export class HttpChain implements Chain {
  readonly #base: string;
  readonly #fetch: typeof fetch;
  readonly #verifier: ChainVerifier;
  readonly #listeners = new Set<(head: ChainHead) => void>();
  #syncing: Promise<void> | undefined;
  #poll: ReturnType<typeof setTimeout> | undefined;

  private constructor(base: string, verifier: ChainVerifier, fetchImpl: typeof fetch) {
    this.#base = base.replace(/\/$/, '');
    this.#verifier = verifier;
    this.#fetch = fetchImpl;
  }

  /**
   * Connects to the hub at `baseUrl` and verifies its chain up to the head. Pin `authority` (the
   * SS58 address the run's organisers publish) to refuse a hub that serves another chain.
   */
  static async connect(baseUrl: string, options: { authority?: string; fetch?: typeof fetch } = {}): Promise<HttpChain> {
    await cryptoReady();
    const chain = new HttpChain(
      baseUrl,
      new ChainVerifier(options.authority === undefined ? {} : { authority: options.authority }),
      options.fetch ?? fetch.bind(globalThis),
    );
    await chain.sync();
    return chain;
  }

  get run(): string {
    return this.#verifier.state.spec.run;
  }

  get clock(): RoundClock {
    return this.#verifier.state.clock;
  }

  get bindingRules(): BindingRules {
    const { spec } = this.#verifier.state;
    return { workBits: spec.bindingWorkBits, ageRounds: spec.bindingAgeRounds };
  }

  /** The authority that sealed every block this client verified (the genesis's). */
  get authority(): string {
    return this.#verifier.state.spec.authority;
  }

  /** Fetches and verifies the blocks after the last verified one; throws BlockVerificationError on a bad one. */
  sync(): Promise<void> {
    this.#syncing ??= this.#syncOnce().finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #syncOnce(): Promise<void> {
    for (;;) {
      const from = (this.#verifier.head?.height ?? -1) + 1;
      const { blocks } = (await this.#get(`/api/chain/blocks?from=${from}&limit=${PAGE}`)) as { blocks: unknown[] };
      for (const value of blocks) {
        const block = this.#verifier.push(value);
        const head = headOf(block);
        for (const listener of this.#listeners) listener(head);
      }
      if (blocks.length < PAGE) return;
    }
  }

  async head(): Promise<ChainHead> {
    await this.sync();
    return headOf(this.#verifier.head!);
  }

  /** Polls for new blocks every block time while anyone listens. */
  onHead(listener: (head: ChainHead) => void): () => void {
    this.#listeners.add(listener);
    if (this.#poll === undefined) this.#schedulePoll();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#poll !== undefined) {
        clearTimeout(this.#poll);
        this.#poll = undefined;
      }
    };
  }

  #schedulePoll(): void {
    this.#poll = setTimeout(() => {
      this.sync()
        .catch((error: unknown) => console.error(`HttpChain: syncing with the hub failed (retrying): ${printable(errorMessage(error))}`))
        .finally(() => {
          if (this.#listeners.size > 0) this.#schedulePoll();
        });
    }, this.clock.blockTimeMs);
  }

  /** Submits an extrinsic; resolves once it is in a block that this client has verified. */
  async submit(extrinsic: unknown): Promise<Inclusion> {
    const response = await this.#send(`${this.#base}/api/chain/extrinsics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(extrinsic),
    });
    const json = (await response.json()) as Inclusion | { error: { code: ChainErrorCode; message: string } };
    if ('error' in json) throw new ChainError(json.error.code, json.error.message);
    await this.sync();
    return json;
  }

  register(binding: SignedBinding): Promise<Inclusion> {
    return this.submit({ call: 'register', binding });
  }

  commit(announcement: SignedAnnouncement): Promise<Inclusion> {
    return this.submit({ call: 'commit', commit: announcement });
  }

  decide(decision: SignedDecision): Promise<Inclusion> {
    return this.submit({ call: 'decision', decision });
  }

  setWeights(weights: SignedWeights): Promise<Inclusion> {
    return this.submit({ call: 'weights', weights });
  }

  async commits(round: number): Promise<SignedAnnouncement[]> {
    await this.sync();
    return this.#verifier.state.commits(round);
  }

  async decision(round: number): Promise<SignedDecision | undefined> {
    await this.sync();
    return this.#verifier.state.decision(round);
  }

  async binding(id: Hex): Promise<VerifiedBinding | undefined> {
    await this.sync();
    return this.#verifier.state.binding(id);
  }

  async firstCommitRound(binding: Hex): Promise<number | undefined> {
    await this.sync();
    return this.#verifier.state.firstCommitRound(binding);
  }

  async nextNonce(signer: { binding: Hex } | { validator: string }): Promise<number> {
    await this.sync();
    return this.#verifier.state.nextNonce(signer);
  }

  async metagraph(): Promise<Metagraph> {
    await this.sync();
    const { state, head } = this.#verifier;
    return {
      run: state.spec.run,
      height: head!.height,
      neurons: state.neurons(),
      validators: state.spec.validators,
      weights: state.weights(),
    };
  }

  /** Stops polling. */
  close(): void {
    this.#listeners.clear();
    if (this.#poll !== undefined) clearTimeout(this.#poll);
    this.#poll = undefined;
  }

  /**
   * One request, tried a second time when it fails before any answer: after a long pause (a peer
   * training in the same process) the hub may have closed the kept-alive connection the request
   * went out on. A resubmitted extrinsic that did arrive is refused by the chain as a duplicate.
   * A 429 (the hub's per-address rate limit) is retried after its Retry-After, up to 3 times.
   */
  async #send(url: string, init?: RequestInit): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const response = await this.#sendOnce(url, init);
      const retryAfter = Number(response.headers.get('retry-after'));
      if (response.status !== 429 || attempt === 3 || !(retryAfter >= 0 && retryAfter <= 30)) return response;
      await response.body?.cancel();
      await new Promise((wake) => setTimeout(wake, retryAfter * 1000));
    }
  }

  async #sendOnce(url: string, init?: RequestInit): Promise<Response> {
    try {
      return await this.#fetch(url, init);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      await new Promise((wake) => setTimeout(wake, 250));
      return this.#fetch(url, init);
    }
  }

  async #get(path: string): Promise<unknown> {
    const response = await this.#send(`${this.#base}${path}`);
    if (!response.ok) throw new Error(`The hub answered ${response.status} to GET ${path}: ${(await response.text()).slice(0, 200)}`);
    return response.json();
  }
}

function headOf(block: Block): ChainHead {
  return { height: block.height, hash: block.hash, timestamp: block.timestamp };
}
