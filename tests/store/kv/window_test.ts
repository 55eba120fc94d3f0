// The KV store's in-memory window: at most `memoryLimit` records loaded, the
// rest read from disk in send order.

import { PRIORITIES } from "../../../src/event.ts";
import { MemoryStore } from "../../../src/store/memory_store.ts";
import type { NewRecord, PendingRecord } from "../../../src/store/store.ts";
import {
  assert,
  assertEquals,
  drain,
  event,
  interceptCommits,
  open,
  ROOMY,
  sendOrder,
  withDir,
} from "./_helpers.ts";
import { until } from "../../_wait.ts";

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

Deno.test("KvStore reads back unloaded records with their saved retry and without the removed ones", async () => {
  await withDir(async (dir) => {
    // Commits that take a while, so that the reads would overtake them.
    const kv = await Deno.openKv(`${dir}/events.kv`);
    const slow = interceptCommits(
      kv,
      (commit) => new Promise((resolve) => setTimeout(resolve, 30)).then(commit),
    );
    const store = await open(dir, { memoryLimit: 6, kv: slow });
    try {
      await store.add(Array.from({ length: 6 }, (_, i) => event(`low${i}`, "low")));
      const taken = await store.take(3, Date.now());
      assertEquals(taken.map((r) => r.id), ["low0", "low1", "low2"]);
      await store.add(Array.from({ length: 5 }, (_, i) => event(`high${i}`, "high")));
      assertEquals(store.loadedCount, 6); // the highs wait on disk
      // low1 failed once (its save is queued), low2 is confirmed (its delete
      // deferred), low0 stays in flight. Taking the highs unloads the lows
      // newer than low0 at once, before either write is committed.
      const releasing = store.release([{ ...taken[1], attempts: 1, lastError: "Error: nack" }]);
      const removing = store.remove([taken[2]]);
      const highs = await store.take(5, Date.now());
      assertEquals(highs.map((r) => r.id), ["high0", "high1", "high2", "high3", "high4"]);
      await store.remove(highs);
      const lows = await store.take(10, Date.now());
      await Promise.all([releasing, removing]);
      assertEquals(lows.map((r) => r.id), ["low1", "low3", "low4", "low5"]);
      assertEquals([lows[0].attempts, lows[0].lastError], [1, "Error: nack"]);
      await store.remove([taken[0], ...lows]);
      assertEquals(store.stats().size, 0);
    } finally {
      await store.close();
      kv.close();
    }
  });
});

Deno.test("KvStore reads ahead into the window's room after a take, so the next take waits for no disk read", async () => {
  await withDir(async (dir) => {
    const store = await open(dir, { memoryLimit: 100 });
    try {
      const added = Array.from({ length: 1_000 }, (_, i) => event(`r${i}`, "normal"));
      const full = () => store.loadedCount === Math.min(100, store.stats().size);
      await store.add(added);
      const ids: string[] = [];
      for (let round = 0; round < 20; round++) {
        const taken = await store.take(50, Date.now());
        ids.push(...taken.map((r) => r.id));
        await store.remove(taken);
        // Room for 50: the next 50 on disk are read while nothing is taken.
        await until(full, () => `loaded ${store.loadedCount} of ${store.stats().size}`);
      }
      assertEquals(ids, added.map((e) => e.id));
      assertEquals(store.stats().size, 0);
    } finally {
      await store.close();
    }
  });
});
