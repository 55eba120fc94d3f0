import { KvStore, type KvStoreOptions } from "../../../src/store/kv/kv_store.ts";
import { BufferFullError, StoreLockedError } from "../../../src/errors.ts";
import { encodeEvent, type EventPriority, PRIORITIES } from "../../../src/event.ts";
import { MemoryStore } from "../../../src/store/memory_store.ts";
import type { NewRecord, PendingRecord, StoreLimits } from "../../../src/store/store.ts";

// @std/assert is on JSR, which the build machines cannot reach: three small stand-ins.
function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

function assertEquals(actual: unknown, expected: unknown): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`values differ:\n  actual:   ${a}\n  expected: ${e}`);
}

async function assertRejects<E extends Error>(
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

const ROOMY: StoreLimits = { maxEvents: 1_000_000, maxBytes: 1_000_000_000, overflow: "reject" };

function event(id: string, priority: EventPriority = "normal", acceptedAt = 1_000): NewRecord {
  return {
    ...encodeEvent({ id, type: "test.happened", timestamp: new Date(0), data: { id } }),
    priority,
    exchange: "domain-events",
    acceptedAt,
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kv_store_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function open(dir: string, options: Partial<KvStoreOptions> = {}): Promise<KvStore> {
  return KvStore.open({ path: `${dir}/events.kv`, limits: ROOMY, memoryLimit: 1_000, ...options });
}

/** Takes everything, `batch` at a time, removing each batch, and returns the ids in order. */
async function drain(store: KvStore, batch: number, check = () => {}): Promise<string[]> {
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
function sendOrder(added: NewRecord[]): string[] {
  return PRIORITIES.flatMap((p) => added.filter((e) => e.priority === p).map((e) => e.id));
}

Deno.test("KvStore adds, takes, releases and removes records", async () => {
  await withDir(async (dir) => {
    const store = await open(dir);
    try {
      const { records } = await store.add([event("a"), event("b"), event("c")]);
      assertEquals(records.map((r) => r.seq), [1, 2, 3]);
      assertEquals(store.stats().size, 3);
      const taken = await store.take(2, Date.now());
      assertEquals(taken.map((r) => r.id), ["a", "b"]);
      assertEquals(store.stats().inFlight, 2);
      await store.remove([taken[0]]);
      const later = Date.now() + 60_000;
      await store.release([{
        ...taken[1],
        attempts: 1,
        nextAttemptAt: later,
        firstFailureAt: 5,
        lastFailureAt: 6,
        lastError: "TransportError: nack",
        outcomeUnknown: true,
      }]);
      assertEquals((await store.take(5, Date.now())).map((r) => r.id), ["c"]);
      assertEquals(store.nextReadyAt(), later);
      const stats = store.stats();
      assertEquals([stats.size, stats.inFlight, stats.persistent], [2, 1, true]);
      assertEquals(stats.bytes, records[1].bytes + records[2].bytes);
    } finally {
      await store.close();
    }
    const reopened = await open(dir);
    try {
      const [b, c] = await reopened.take(5, Infinity);
      assertEquals([b.id, c.id], ["b", "c"]);
      assertEquals(b.attempts, 1);
      assertEquals(b.lastError, "TransportError: nack");
      assertEquals([b.firstFailureAt, b.lastFailureAt, b.outcomeUnknown], [5, 6, true]);
      assertEquals(c.attempts, 0);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("KvStore keeps priority order across a restart and continues the seq", async () => {
  await withDir(async (dir) => {
    const added: NewRecord[] = [];
    const priorities: EventPriority[] = ["low", "normal", "high", "normal", "low", "high"];
    for (let i = 0; i < 30; i++) added.push(event(`e${i}`, priorities[i % priorities.length]));
    const first = await open(dir);
    try {
      await first.add(added.slice(0, 10));
      await first.add(added.slice(10));
    } finally {
      await first.close();
    }
    const second = await open(dir, { memoryLimit: 7 });
    try {
      assertEquals(second.stats().size, 30);
      assertEquals(second.stats().byPriority, { high: 10, normal: 10, low: 10 });
      assertEquals(second.loadedCount, 7);
      const { records } = await second.add([event("late", "low")]);
      assertEquals(records[0].seq, 31);
      assertEquals(await drain(second, 4), sendOrder([...added, event("late", "low")]));
    } finally {
      await second.close();
    }
  });
});

Deno.test("KvStore commits concurrent add() calls together and resolves each after its commit", async () => {
  await withDir(async (dir) => {
    const store = await open(dir);
    try {
      const before = store.commits;
      const committedAtResolve: number[] = [];
      await Promise.all(
        Array.from(
          { length: 500 },
          (_, i) => store.add([event(`e${i}`)]).then(() => committedAtResolve.push(store.commits)),
        ),
      );
      const commits = store.commits - before;
      assert(commits >= 1 && commits <= 5, `500 add() calls took ${commits} commits`);
      assert(committedAtResolve.every((n) => n > before));
      assertEquals(store.stats().size, 500);
    } finally {
      await store.close();
    }
    const reopened = await open(dir);
    try {
      assertEquals(reopened.stats().size, 500);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("KvStore splits a group over 1000 mutations or 800 KB into several atomics", async () => {
  await withDir(async (dir) => {
    const store = await open(dir, { memoryLimit: 10_000 });
    try {
      const many = Array.from({ length: 2_500 }, (_, i) => event(`e${i}`));
      let before = store.commits;
      await store.add(many);
      assert(store.commits - before >= 3, `2500 records in ${store.commits - before} commits`);
      const data = "x".repeat(60_000);
      const big = Array.from({ length: 30 }, (_, i) => ({
        ...encodeEvent({ id: `big${i}`, type: "t", timestamp: new Date(0), data }),
        exchange: "x",
        acceptedAt: 1,
      }));
      before = store.commits;
      await store.add(big);
      assert(store.commits - before >= 3, `1.8 MB in ${store.commits - before} commits`);
    } finally {
      await store.close();
    }
    const reopened = await open(dir, { memoryLimit: 10 });
    try {
      assertEquals(reopened.stats().size, 2_530);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("KvStore holds at most memoryLimit records yet drains 5,000 in order", async () => {
  await withDir(async (dir) => {
    const store = await open(dir, { memoryLimit: 100 });
    const added: NewRecord[] = [];
    const check = () => assert(store.loadedCount <= 100, `loaded ${store.loadedCount}`);
    try {
      for (let g = 0; g < 50; g++) {
        const group = Array.from(
          { length: 100 },
          (_, i) => event(`e${g}-${i}`, PRIORITIES[(g * 7 + i) % 3]),
        );
        added.push(...group);
        await store.add(group);
        check();
      }
      assertEquals(store.stats().size, 5_000);
      // Take the highs, the normals and some lows, then add urgent records:
      // they must come before the lows still waiting, loaded or not.
      const firstIds: string[] = [];
      for (let i = 0; i < 40; i++) {
        const taken = await store.take(100, Date.now());
        check();
        firstIds.push(...taken.map((r) => r.id));
        await store.remove(taken);
      }
      const order = sendOrder(added);
      assertEquals(firstIds, order.slice(0, 4_000));
      const urgent = [event("urgent-1", "high"), event("urgent-2", "high")];
      await store.add(urgent);
      const rest = await drain(store, 50, check);
      assertEquals(rest, ["urgent-1", "urgent-2", ...order.slice(4_000)]);
      assertEquals(store.stats().size, 0);
    } finally {
      await store.close();
    }
  });
});

Deno.test("KvStore takes a high-priority record first even when the window is full of low ones", async () => {
  await withDir(async (dir) => {
    const store = await open(dir, { memoryLimit: 10 });
    try {
      await store.add(Array.from({ length: 30 }, (_, i) => event(`low${i}`, "low")));
      assertEquals(store.loadedCount, 10);
      await store.add([event("high", "high")]);
      const [first] = await store.take(1, Date.now());
      assertEquals(first.id, "high");
      assert(store.loadedCount <= 10);
      await store.remove([first]);
      // Keep some in flight across takes, release them now and then: nothing
      // is handed out while in flight, and nothing is skipped.
      const inFlight = new Map<string, PendingRecord>();
      const removed: string[] = [];
      for (let round = 0; removed.length < 30 && round < 100; round++) {
        const taken = await store.take(3, Date.now());
        assert(store.loadedCount <= 10);
        for (const r of taken) {
          assert(!inFlight.has(r.id), `${r.id} handed out while in flight`);
          inFlight.set(r.id, r);
        }
        await store.remove(taken.slice(0, 2));
        for (const r of taken.slice(0, 2)) {
          inFlight.delete(r.id);
          removed.push(r.id);
        }
        if (round % 3 === 2) {
          await store.release([...inFlight.values()]);
          inFlight.clear();
        }
      }
      const ids = new Set(removed);
      assertEquals(removed.length, 30);
      const all = Array.from({ length: 30 }, (_, i) => `low${i}`);
      assertEquals(all.filter((id) => !ids.has(id)), []);
    } finally {
      await store.close();
    }
  });
});

Deno.test("KvStore hands out the same records in the same order as MemoryStore", async () => {
  await withDir(async (dir) => {
    // A seeded generator, so that a failure can be replayed.
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const store = await open(dir, { memoryLimit: 16 });
    const oracle = new MemoryStore(ROOMY);
    const inFlight: [PendingRecord[], PendingRecord[]][] = [];
    let n = 0;
    try {
      for (let step = 0; step < 1_500; step++) {
        const roll = random();
        if (roll < 0.4) {
          const group = Array.from(
            { length: 1 + Math.floor(random() * 8) },
            () => event(`e${n++}`, PRIORITIES[Math.floor(random() * 3)]),
          );
          await Promise.all([store.add(group), oracle.add(group)]);
        } else if (roll < 0.75) {
          const limit = 1 + Math.floor(random() * 10);
          const [got, expected] = await Promise.all([
            store.take(limit, 5_000),
            oracle.take(limit, 5_000),
          ]);
          // The window runs short only when records in flight fill it; then it
          // hands out nothing that would overtake a more urgent record on disk.
          if (got.length < expected.length) {
            assertEquals(store.loadedCount, 16);
            await oracle.release(expected.splice(got.length));
          }
          assertEquals(got.map((r) => r.id), expected.map((r) => r.id));
          assert(store.loadedCount <= 16);
          if (got.length > 0) inFlight.push([got, expected]);
        } else if (inFlight.length > 0) {
          const [got, expected] = inFlight.splice(Math.floor(random() * inFlight.length), 1)[0];
          if (roll < 0.9) await Promise.all([store.remove(got), oracle.remove(expected)]);
          else await Promise.all([store.release(got), oracle.release(expected)]);
        }
        const [a, b] = [store.stats(), oracle.stats()];
        assertEquals([a.size, a.bytes, a.byPriority, a.inFlight], [
          b.size,
          b.bytes,
          b.byPriority,
          b.inFlight,
        ]);
      }
    } finally {
      await store.close();
    }
  });
});

Deno.test("KvStore rejects an add() that does not fit, counting records not yet committed", async () => {
  await withDir(async (dir) => {
    const limits: StoreLimits = { maxEvents: 10, maxBytes: 1_000_000, overflow: "reject" };
    const store = await open(dir, { limits, memoryLimit: 4 });
    try {
      const results = await Promise.allSettled([
        store.add(Array.from({ length: 6 }, (_, i) => event(`a${i}`))),
        store.add(Array.from({ length: 6 }, (_, i) => event(`b${i}`))),
      ]);
      assertEquals(results.map((r) => r.status), ["fulfilled", "rejected"]);
      assert((results[1] as PromiseRejectedResult).reason instanceof BufferFullError);
      await store.add(Array.from({ length: 4 }, (_, i) => event(`c${i}`)));
      await assertRejects(() => store.add([event("d")]), BufferFullError);
      assertEquals(store.stats().size, 10);
    } finally {
      await store.close();
    }
  });
});

Deno.test("KvStore evicts the oldest lowest-priority record, even one only on disk", async () => {
  await withDir(async (dir) => {
    const limits: StoreLimits = {
      maxEvents: 20,
      maxBytes: 1_000_000,
      overflow: "drop-oldest-lowest-priority",
    };
    const store = await open(dir, { limits, memoryLimit: 5 });
    try {
      await store.add(Array.from({ length: 10 }, (_, i) => event(`high${i}`, "high")));
      await store.add(Array.from({ length: 10 }, (_, i) => event(`low${i}`, "low")));
      const { evicted } = await store.add([event("n0"), event("n1")]);
      assertEquals(evicted.map((r) => r.id), ["low0", "low1"]);
      assertEquals(store.stats().droppedEvents, 2);
      assertEquals(store.stats().size, 20);
      await assertRejects(
        () => store.add(Array.from({ length: 11 }, (_, i) => event(`x${i}`, "low"))),
        BufferFullError,
      );
      const ids = await drain(store, 4, () => assert(store.loadedCount <= 5));
      assertEquals(ids, [
        ...Array.from({ length: 10 }, (_, i) => `high${i}`),
        "n0",
        "n1",
        ...Array.from({ length: 8 }, (_, i) => `low${i + 2}`),
      ]);
    } finally {
      await store.close();
    }
  });
});

Deno.test("KvStore expires records accepted before the cutoff, on disk too", async () => {
  await withDir(async (dir) => {
    const store = await open(dir, { memoryLimit: 5 });
    try {
      await store.add(Array.from({ length: 20 }, (_, i) => event(`e${i}`, "normal", i)));
      const [inFlight] = await store.take(1, Date.now());
      const expired = await store.expire(15);
      assertEquals(expired.map((r) => r.id), Array.from({ length: 14 }, (_, i) => `e${i + 1}`));
      const stats = store.stats();
      assertEquals([stats.expiredEvents, stats.size, stats.oldestAcceptedAt], [14, 6, 0]);
      await store.remove([inFlight]);
      assertEquals(store.stats().oldestAcceptedAt, 15);
    } finally {
      await store.close();
    }
    const reopened = await open(dir);
    try {
      assertEquals(await drain(reopened, 10), ["e15", "e16", "e17", "e18", "e19"]);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("KvStore keeps dead letters across a restart and never reuses their seq", async () => {
  await withDir(async (dir) => {
    const store = await open(dir);
    let seq: number;
    try {
      const { records } = await store.add([event("a"), event("b")]);
      const taken = await store.take(2, Date.now());
      await store.remove(taken);
      await store.addDeadLetters(records.map((r: PendingRecord) => ({
        ...r,
        reason: "max-retries" as const,
        deadLetteredAt: 7,
      })));
      assertEquals(store.stats().deadLetters, 2);
      seq = records[1].seq;
    } finally {
      await store.close();
    }
    const reopened = await open(dir);
    try {
      assertEquals(reopened.stats().deadLetters, 2);
      const dead = await reopened.listDeadLetters();
      assertEquals(dead.map((d) => [d.id, d.reason]), [["a", "max-retries"], ["b", "max-retries"]]);
      assertEquals((await reopened.listDeadLetters(1)).length, 1);
      const { records } = await reopened.add([event("c")]);
      assert(records[0].seq > seq);
      await reopened.removeDeadLetters([dead[0].seq]);
      assertEquals((await reopened.listDeadLetters()).map((d) => d.id), ["b"]);
      assertEquals(reopened.stats().deadLetters, 1);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("KvStore refuses a record too big for a Deno KV value, naming the event", async () => {
  await withDir(async (dir) => {
    const store = await open(dir);
    try {
      const huge = { ...event("huge"), body: "€".repeat(40_000), bytes: 120_000 };
      const error = await assertRejects(() => store.add([event("ok"), huge]), RangeError);
      assert(error.message.includes('"huge"'));
      assertEquals(store.stats().size, 0);
    } finally {
      await store.close();
    }
  });
});

Deno.test("KvStore refuses a second owner while the first holds the lease", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/events.kv`;
    const first = await open(dir, { owner: "first" });
    try {
      const error = await assertRejects(() => open(dir, { owner: "second" }), StoreLockedError);
      assertEquals([error.path, error.owner], [path, "first"]);
      assert(error.message.includes(path));
    } finally {
      await first.close();
    }
    // close() released the lease.
    const second = await open(dir, { owner: "second" });
    await second.close();
  });
});

Deno.test("KvStore takes over a stale lease", async () => {
  await withDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/events.kv`);
    try {
      await kv.set(["lease"], { owner: "crashed", expiresAt: Date.now() - 1, token: "old" });
    } finally {
      kv.close();
    }
    const store = await open(dir);
    await store.close();
    // With a fake clock: the first lease expires at 1000, the second opener lives at 5000.
    const stale = await open(dir, { now: () => 0, leaseTtlMs: 1_000 });
    const fresh = await open(dir, { now: () => 5_000 });
    await stale.close();
    await fresh.close();
  });
});

Deno.test("KvStore refuses add() once another owner has taken its lease", async () => {
  await withDir(async (dir) => {
    const store = await open(dir, { leaseTtlMs: 30 });
    const kv = await Deno.openKv(`${dir}/events.kv`);
    try {
      await store.add([event("a")]);
      await kv.set(["lease"], { owner: "thief", expiresAt: Date.now() + 60_000, token: "t" });
      await new Promise((resolve) => setTimeout(resolve, 60));
      const error = await assertRejects(() => store.add([event("b")]), StoreLockedError);
      assertEquals(error.owner, "thief");
      assertEquals(await store.take(10, Date.now()), []);
    } finally {
      kv.close();
      await store.close();
    }
  });
});

Deno.test("KvStore accepts a .json path from old configurations and creates its directory", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/missing/deeper/event-buffer.json`;
    const store = await KvStore.open({ path, limits: ROOMY, memoryLimit: 10 });
    try {
      await store.add([event("a")]);
    } finally {
      await store.close();
    }
    assert((await Deno.stat(path)).isFile);
    const reopened = await KvStore.open({ path, limits: ROOMY, memoryLimit: 10 });
    try {
      assertEquals(reopened.stats().size, 1);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("KvStore leaves an injected kv open", async () => {
  await withDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/events.kv`);
    try {
      const store = await KvStore.open({ path: "injected", kv, limits: ROOMY, memoryLimit: 10 });
      await store.add([event("a")]);
      await store.close();
      assertEquals((await kv.get(["lease"])).value, null);
      let count = 0;
      for await (const _ of kv.list({ prefix: ["pending"] })) count++;
      assertEquals(count, 1);
    } finally {
      kv.close();
    }
  });
});

Deno.test("KvStore.open() validates its options", async () => {
  await assertRejects(
    () => KvStore.open({ path: "", limits: ROOMY, memoryLimit: 1 }),
    TypeError,
    "'path'",
  );
  await assertRejects(
    () => KvStore.open({ path: "x.kv", limits: ROOMY, memoryLimit: 0 }),
    RangeError,
    "'memoryLimit' must be a positive integer: got 0",
  );
});
