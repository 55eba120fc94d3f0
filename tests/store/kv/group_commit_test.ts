// The group commit of the KV store: concurrent writes share atomics, within
// Deno KV's mutation and byte limits.

import { encodeEvent } from "../../../src/event.ts";
import { assert, assertEquals, event, open, withDir } from "./_helpers.ts";

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
