// Shared by the KV store tests: assertion stand-ins, events, and a store in a
// temporary directory.

import { KvStore, type KvStoreOptions } from "../../../src/store/kv/kv_store.ts";
import { encodeEvent, type EventPriority, PRIORITIES } from "../../../src/event.ts";
import type { NewRecord, StoreLimits } from "../../../src/store/store.ts";

export { withDir } from "../../_pipeline.ts";

// @std/assert is on JSR, which the build machines cannot reach: three small stand-ins.
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

export function assertEquals(actual: unknown, expected: unknown): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`values differ:\n  actual:   ${a}\n  expected: ${e}`);
}

export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => E,
  includes = "",
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    assert(error instanceof type, `expected ${type.name}, got ${error}`);
    assert(error.message.includes(includes), `"${error.message}" lacks "${includes}"`);
    return error;
  }
  throw new Error(`expected ${type.name}, but it resolved`);
}

export const ROOMY: StoreLimits = {
  maxEvents: 1_000_000,
  maxBytes: 1_000_000_000,
  overflow: "reject",
};

export function event(
  id: string,
  priority: EventPriority = "normal",
  acceptedAt = 1_000,
): NewRecord {
  return {
    ...encodeEvent({ id, type: "test.happened", timestamp: new Date(0), data: { id } }),
    priority,
    exchange: "domain-events",
    acceptedAt,
  };
}

/** Opens the store `events.kv` in `dir`, roomy limits and a window of 1000 unless told. */
export function open(dir: string, options: Partial<KvStoreOptions> = {}): Promise<KvStore> {
  return KvStore.open({ path: `${dir}/events.kv`, limits: ROOMY, memoryLimit: 1_000, ...options });
}

/** Takes everything, `batch` at a time, removing each batch, and returns the ids in order. */
export async function drain(store: KvStore, batch: number, check = () => {}): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const taken = await store.take(batch, Date.now());
    check();
    if (taken.length === 0) return ids;
    ids.push(...taken.map((r) => r.id));
    await store.remove(taken);
    check();
  }
}

/** The ids in the order they must be sent: by priority, then by arrival. */
export function sendOrder(added: NewRecord[]): string[] {
  return PRIORITIES.flatMap((p) => added.filter((e) => e.priority === p).map((e) => e.id));
}

/**
 * A KV whose atomic commits go through `commit`, which is given the real
 * one: to delay commits, or to make some fail as a full disk would.
 */
export function interceptCommits(
  kv: Deno.Kv,
  commit: (real: () => Promise<Deno.KvCommitResult | Deno.KvCommitError>) => Promise<
    Deno.KvCommitResult | Deno.KvCommitError
  >,
): Deno.Kv {
  return new Proxy(kv, {
    get(target, name) {
      if (name !== "atomic") {
        const value = Reflect.get(target, name, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return () => {
        const atomic = target.atomic();
        const real = atomic.commit.bind(atomic);
        atomic.commit = () => commit(real);
        return atomic;
      };
    },
  });
}
