// KvStore as a PendingStore: add, take, release, remove, eviction, expiry,
// dead letters, restarts and options.

import { KvStore } from "../../../src/store/kv/kv_store.ts";
import { BufferFullError } from "../../../src/errors.ts";
import type { EventPriority } from "../../../src/event.ts";
import type { NewRecord, PendingRecord, StoreLimits } from "../../../src/store/store.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  drain,
  event,
  open,
  ROOMY,
  sendOrder,
  withDir,
} from "./_helpers.ts";

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
