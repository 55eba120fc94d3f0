// The KV store's write queue and group commit: writes of concurrent calls
// are gathered and committed together, in order, one commit at a time, in as
// few atomic operations as Deno KV's mutation and byte limits allow. Each call
// settles once all its writes are committed (or one failed); a barrier waits
// for every write queued before it. Deferred writes have no caller waiting:
// they ride with the next commit, and one that fails is queued again for the
// commit after it.

import { KEY_BYTES, SEQ_KEY, toDisk } from "./_codec.ts";

/** One write for a group commit. */
export interface Write {
  /** The key; `undefined` for a barrier that only waits for the writes before it. */
  key?: Deno.KvKey;
  /** The value to set; `undefined` deletes. */
  value?: unknown;
  /** An estimate of its size in an atomic operation. */
  size: number;
  /** Told when it is committed or its atomic failed. */
  hooks?: WriteHooks;
}

/**
 * What to do once a write is committed or its atomic failed: one object
 * serves every write of a kind, so that a write carries no closures of its
 * own (a pending record's write is held until its commit).
 */
export interface WriteHooks {
  committed?(write: Write): void;
  failed?(write: Write): void;
}

/** The writes of one call: it settles when the last of them is committed or failed. */
interface Job {
  pending: number;
  error?: unknown;
  resolve: () => void;
  reject: (error: unknown) => void;
}

// Deno KV refuses atomics of more than 1000 mutations or 819200 bytes.
const MAX_MUTATIONS = 1000;
const MAX_ATOMIC_BYTES = 800_000;

export class GroupCommit {
  readonly #kv: Deno.Kv;
  readonly #seq: () => number;
  readonly #wrap: (error: unknown) => unknown;
  #queue: Queued[] = [];
  /** Deferred writes whose atomic failed, for the next group. */
  #retry: Queued[] = [];
  #flushing: Promise<void> | undefined;
  #commits = 0;
  #failure: Error | undefined;

  /**
   * @param kv Where to commit.
   * @param seq The highest `seq` handed out, written with every atomic.
   * @param wrap Turns a failed commit's error into the one the writers get.
   */
  constructor(kv: Deno.Kv, seq: () => number, wrap: (error: unknown) => unknown = (e) => e) {
    this.#kv = kv;
    this.#seq = seq;
    this.#wrap = wrap;
  }

  /** Atomic commits made so far. */
  get commits(): number {
    return this.#commits;
  }

  /** Why the last commit failed, while no commit has succeeded since. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Queues writes for the next group commit; resolves when all of them are committed. */
  enqueue(writes: readonly Write[]): Promise<void> {
    if (writes.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const job: Job = { pending: writes.length, resolve, reject };
      for (const write of writes) this.#queue.push({ write, job });
      this.#flushing ??= this.#flush();
    });
  }

  /**
   * Queues writes that nobody waits for: they are committed with the next
   * group, in order with the rest. One whose atomic fails is queued again,
   * to be retried with the commit after it (not on its own, so that a broken
   * disk is not hammered); one still queued when the process dies is lost.
   */
  defer(writes: readonly Write[]): void {
    if (writes.length === 0) return;
    for (const write of writes) this.#queue.push({ write, job: undefined });
    this.#flushing ??= this.#flush();
  }

  /** Resolves once every write queued before it is committed (or failed). */
  barrier(): Promise<void> {
    if (this.#flushing === undefined && this.#queue.length === 0) return Promise.resolve();
    return this.enqueue([{ size: 0 }]).catch(() => {});
  }

  /**
   * Resolves once nothing is being committed, after one more try of the
   * deferred writes that failed.
   */
  async idle(): Promise<void> {
    if (this.#retry.length > 0) this.#flushing ??= this.#flush();
    while (this.#flushing !== undefined) await this.#flushing;
  }

  async #flush(): Promise<void> {
    // Let the add() calls of this tick join the group.
    await Promise.resolve();
    try {
      do {
        const group = this.#retry.length === 0 ? this.#queue : this.#retry.concat(this.#queue);
        this.#queue = [];
        this.#retry = [];
        await this.#commitGroup(group);
      } while (this.#queue.length > 0);
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Commits a group in as few atomics as the KV limits allow, in order. */
  async #commitGroup(group: Queued[]): Promise<void> {
    let i = 0;
    while (i < group.length) {
      const start = i;
      const atomic = this.#kv.atomic();
      let mutations = 1;
      let size = KEY_BYTES;
      while (i < group.length && mutations < MAX_MUTATIONS) {
        const { write } = group[i];
        if (mutations > 1 && size + write.size > MAX_ATOMIC_BYTES) break;
        i++;
        if (write.key === undefined) continue;
        if (write.value === undefined) atomic.delete(write.key);
        else atomic.set(write.key, toDisk(write.value));
        mutations++;
        size += write.size;
      }
      atomic.set(SEQ_KEY, this.#seq());
      try {
        await atomic.commit();
        this.#commits++;
        this.#failure = undefined;
      } catch (cause) {
        const error = this.#wrap(cause);
        this.#failure = error instanceof Error ? error : new Error(String(error));
        for (let j = start; j < group.length; j++) {
          const queued = group[j];
          queued.write.hooks?.failed?.(queued.write);
          // Not retried at once: the writes that come next take it along.
          if (queued.job === undefined) this.#retry.push(queued);
          else settle(queued.job, error);
        }
        return;
      }
      for (let j = start; j < i; j++) {
        const { write, job } = group[j];
        write.hooks?.committed?.(write);
        if (job !== undefined) settle(job);
      }
    }
  }
}

/** A queued write, with the call that waits for it (none when deferred). */
interface Queued {
  write: Write;
  job: Job | undefined;
}

function settle(job: Job, error?: unknown): void {
  if (error !== undefined && job.error === undefined) job.error = error;
  if (--job.pending > 0) return;
  if (job.error === undefined) job.resolve();
  else job.reject(job.error);
}
