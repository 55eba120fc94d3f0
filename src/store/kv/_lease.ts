// The lease on a KV store file, so that one process at a time owns it: the
// holder's identity (owner text, token, pid and host), taking it (over an
// expired lease, or over one whose holder is certainly dead), renewing it
// every third of its time to live, noticing that another owner took it, and
// releasing it. Also the set of stores open in this process, and the
// canonical path that makes two spellings of one file one store.

import { StoreLockedError } from "../../errors.ts";
import { hostName, processGone, processId, realPath } from "../../_runtime.ts";
import { LEASE_KEY } from "./_codec.ts";

/** The value under the lease key. */
interface Held {
  owner: string;
  expiresAt: number;
  token: string;
  /** The holder's process and host, so that a crashed holder on this host is recognised. */
  pid?: number;
  host?: string;
}

/** What a lease is taken with. */
export interface LeaseOptions {
  /** The store's path as given. */
  path: string;
  /** Whether `path` names a file, so that its canonical form identifies the store here. */
  resolvePath: boolean;
  /** How this process describes itself. @default {"pid <process id> on <host name>"} */
  owner?: string;
  /** How long the lease lasts without renewal, in ms. */
  ttlMs: number;
  now: () => number;
  /** Called once, when a renewal finds that another owner holds the lease. */
  onLost: (holder: string) => void;
}

// Stores open in this process, by path: a second open here is refused even
// though the lease's pid is our own.
const openHere = new Set<string>();

export class Lease {
  readonly #kv: Deno.Kv;
  readonly #options: LeaseOptions;
  readonly #owner: string;
  // The path as the file system resolves it: two spellings of one file are one store.
  #identity: string;
  readonly #token = crypto.randomUUID();
  #stamp: string | null = null;
  #state: "held" | "lost" | "stopped" = "held";
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  #renewing: Promise<void> | undefined;

  private constructor(kv: Deno.Kv, options: LeaseOptions) {
    this.#kv = kv;
    this.#options = options;
    this.#owner = options.owner ?? `pid ${processId()} on ${hostName()}`;
    this.#identity = options.path;
  }

  /**
   * Takes the lease, unless another live owner holds it.
   *
   * @throws {StoreLockedError} When another live owner holds the lease.
   */
  static async take(kv: Deno.Kv, options: LeaseOptions): Promise<Lease> {
    const lease = new Lease(kv, options);
    if (options.resolvePath) lease.#identity = await canonicalPath(options.path);
    await lease.#acquire();
    return lease;
  }

  /** Starts renewing the lease, every third of its time to live. */
  renewEvery(): void {
    this.#renewTimer = setInterval(() => this.#renewSoon(), Math.max(1, this.#options.ttlMs / 3));
  }

  /** Stops renewing; resolves once a renewal under way has ended. */
  async stop(): Promise<void> {
    const lost = this.#state === "lost";
    this.#state = "stopped";
    clearInterval(this.#renewTimer);
    await this.#renewing;
    if (lost) this.#stamp = null; // not ours to release
  }

  /** Deletes the lease if it is still ours, and forgets the store here; call after {@linkcode stop}. */
  async release(): Promise<void> {
    try {
      if (this.#stamp !== null) {
        const entry = await this.#kv.get<Held>(LEASE_KEY);
        if (entry.value?.token === this.#token) {
          await this.#kv.atomic().check(entry).delete(LEASE_KEY).commit();
        }
      }
    } finally {
      openHere.delete(this.#identity);
    }
  }

  #held(): Held {
    return {
      owner: this.#owner,
      expiresAt: this.#options.now() + this.#options.ttlMs,
      token: this.#token,
      pid: processId(),
      host: hostName(),
    };
  }

  async #acquire(): Promise<void> {
    const { path, now } = this.#options;
    const identity = this.#identity;
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.#kv.get<Held>(LEASE_KEY);
      const held = entry.value;
      if (
        held !== null && held.token !== this.#token && held.expiresAt > now() &&
        !holderIsDead(held, identity)
      ) {
        throw new StoreLockedError(path, held.owner);
      }
      const result = await this.#kv.atomic().check(entry).set(LEASE_KEY, this.#held()).commit();
      if (result.ok) {
        this.#stamp = result.versionstamp;
        openHere.add(identity);
        return;
      }
    }
    const held = (await this.#kv.get<Held>(LEASE_KEY)).value;
    throw new StoreLockedError(path, held?.owner ?? "another publisher");
  }

  #renewSoon(): void {
    if (this.#renewing !== undefined || this.#state !== "held") return;
    this.#renewing = this.#renew()
      .catch(() => {}) // a failed renewal is retried on the next tick; the lease outlives it
      .finally(() => this.#renewing = undefined);
  }

  async #renew(): Promise<void> {
    const entry = await this.#kv.get<Held>(LEASE_KEY);
    if (this.#state !== "held") return;
    if (entry.versionstamp !== this.#stamp || entry.value?.token !== this.#token) {
      this.#lose(entry.value?.owner ?? "unknown");
      return;
    }
    const result = await this.#kv.atomic().check(entry).set(LEASE_KEY, this.#held()).commit();
    if (result.ok) this.#stamp = result.versionstamp;
    else if (this.#state === "held") {
      const now = (await this.#kv.get<Held>(LEASE_KEY)).value;
      this.#lose(now?.owner ?? "unknown");
    }
  }

  #lose(holder: string): void {
    this.#state = "lost";
    clearInterval(this.#renewTimer);
    this.#options.onLost(holder);
  }
}

/**
 * Whether a lease holder is certainly gone: it ran on this host and its
 * process no longer exists (or it had our pid, from a previous life of a
 * container, and this process does not hold the store). Anything uncertain
 * counts as alive, and the lease then has to expire.
 */
function holderIsDead(held: Held, path: string): boolean {
  if (held.pid === undefined || held.host !== hostName()) return false;
  if (held.pid === processId()) return !openHere.has(path);
  return processGone(held.pid);
}

/** The real path of `path`'s directory, joined with its file name. */
async function canonicalPath(path: string): Promise<string> {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  try {
    return `${await realPath(dir)}/${path.slice(slash + 1)}`;
  } catch {
    return path;
  }
}
