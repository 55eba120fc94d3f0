// seqOf(): both stores find a pending event by its id, in flight or not, on
// disk or in memory, until it leaves the store (confirmed, evicted, expired).

import assert from "node:assert/strict";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { PendingStore, StoreLimits } from "../../src/store/store.ts";
import { event, open, withDir } from "./kv/_helpers.ts";

const TWO: StoreLimits = {
  maxEvents: 2,
  maxBytes: 1_000_000,
  overflow: "drop-oldest-lowest-priority",
};

async function findsUntilGone(store: PendingStore): Promise<void> {
  const { records: [a, b] } = await store.add([event("a"), event("b")]);
  assert.equal(store.seqOf("a"), a.seq);
  assert.equal(store.seqOf("b"), b.seq);
  assert.equal(store.seqOf("c"), undefined);
  const taken = await store.take(1, Date.now());
  assert.equal(store.seqOf("a"), a.seq, "in flight is still pending");
  await store.remove(taken);
  assert.equal(store.seqOf("a"), undefined, "gone once confirmed");
  await store.expire(Infinity);
  assert.equal(store.seqOf("b"), undefined, "gone once expired");
}

Deno.test("MemoryStore.seqOf() finds a pending event by id until it leaves the store", async () => {
  const store = new MemoryStore({ ...TWO, overflow: "reject" });
  await findsUntilGone(store);
  await store.close();
});

Deno.test("KvStore.seqOf() finds a pending event by id until it leaves the store", async () => {
  await withDir(async (dir) => {
    const store = await open(dir);
    try {
      await findsUntilGone(store);
    } finally {
      await store.close();
    }
  });
});

Deno.test("KvStore.seqOf() finds events on disk past the window, and after a restart", async () => {
  await withDir(async (dir) => {
    let store = await open(dir, { memoryLimit: 1 });
    const { records } = await store.add([event("a"), event("b"), event("c")]);
    assert.equal(store.loadedCount, 1);
    assert.deepEqual(["a", "b", "c"].map((id) => store.seqOf(id)), records.map((r) => r.seq));
    await store.close();
    store = await open(dir, { memoryLimit: 1 });
    try {
      assert.deepEqual(["a", "b", "c"].map((id) => store.seqOf(id)), records.map((r) => r.seq));
    } finally {
      await store.close();
    }
  });
});

Deno.test("seqOf() forgets an evicted event in both stores", async () => {
  await withDir(async (dir) => {
    const kv = await open(dir, { limits: TWO, memoryLimit: 1 });
    const memory = new MemoryStore(TWO);
    try {
      for (const store of [memory, kv]) {
        await store.add([event("old", "low"), event("mid")]);
        const { evicted } = await store.add([event("new", "high")]);
        assert.deepEqual(evicted.map((e) => e.id), ["old"]);
        assert.equal(store.seqOf("old"), undefined);
        assert.notEqual(store.seqOf("new"), undefined);
      }
    } finally {
      await kv.close();
      await memory.close();
    }
  });
});
