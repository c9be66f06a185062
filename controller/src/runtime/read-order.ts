import type { SourceRead } from './check.js';

/** What one batch of checks uses to order its reads against the batches of its key started before it. */
export interface BatchReads {
  /** CheckRequest.agree for this batch. */
  readonly agree: (source: string, read: SourceRead, askAgain: () => Promise<SourceRead>) => Promise<SourceRead>;
  /** Call once the batch's git exchanges are over (or it ended without them); idempotent. */
  readonly done: () => void;
}

/**
 * Orders the git reads of checks of one key (a webhook trigger and source) that run side by side.
 *
 * Two exchanges in flight at once cannot tell which one the server answered later: the check started
 * later may have read first, and acting on it would write a status that goes back to an older commit
 * (and fire the newer commit's Job again on the next check). So a batch compares its read of a source
 * with what the batch started before it acted on; where they differ it asks git again, in an exchange
 * that starts after the earlier one ended, and acts on that. Equal reads (the usual case) cost nothing.
 *
 * A batch that read nothing of a source (it failed, or checked other sources) passes on what the batches
 * before it acted on, so the comparison reaches back past it. A key is forgotten once every batch started
 * has its reads known: a batch started then reads after all of them.
 */
export class ReadOrder {
  readonly #last = new Map<string, Promise<ReadonlyMap<string, SourceRead>>>();

  /** Starts a batch of `key`: call before its first exchange, in the order the batches start. */
  begin(key: string): BatchReads {
    const prior = this.#last.get(key);
    const own = new Map<string, SourceRead>();
    let over: () => void = () => {};
    const exchangesOver = new Promise<void>((resolve) => {
      over = resolve;
    });
    // Never rejects: what this batch and every one before it acted on, once their exchanges are over.
    const reads = exchangesOver.then(async () => new Map([...((await prior) ?? []), ...own]));
    this.#last.set(key, reads);
    reads.then(() => {
      if (this.#last.get(key) === reads) this.#last.delete(key);
    });
    return {
      agree: async (source, read, askAgain) => {
        const before = prior === undefined ? undefined : (await prior).get(source);
        const acted =
          before === undefined || (before.commit === read.commit && before.fileHash === read.fileHash)
            ? read
            : await askAgain();
        own.set(source, acted);
        return acted;
      },
      done: over,
    };
  }

  /** Keys with a batch whose reads are not known yet. */
  get size(): number {
    return this.#last.size;
  }
}
