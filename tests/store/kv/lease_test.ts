// The lease on a KV store file: one owner at a time, takeover of a stale or
// dead holder, and losing the lease to another owner.

import { StoreError, StoreLockedError } from "../../../src/errors.ts";
import { PENDING_PREFIX } from "../../../src/store/kv/_codec.ts";
import { KvStore } from "../../../src/store/kv/kv_store.ts";
import { assert, assertEquals, assertRejects, event, open, ROOMY, withDir } from "./_helpers.ts";

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

Deno.test("KvStore refuses a second open in one process through another spelling of the path", async () => {
  await withDir(async (dir) => {
    const first = await open(dir);
    let second: KvStore | undefined;
    try {
      second = await KvStore.open({ path: `${dir}/./events.kv`, limits: ROOMY, memoryLimit: 10 })
        .catch(() => undefined);
      assert(second === undefined, "the second open took over a live lease of this very process");
    } finally {
      await second?.close();
      await first.close();
    }
  });
});

Deno.test("KvStore.open() that fails reading the store gives the lease back, so that the next open is not refused", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/events.kv`;
    const kv = await Deno.openKv(path);
    try {
      // A pending entry that is not a record: the scan at open fails on it.
      await kv.set([...PENDING_PREFIX, 1, 1], null);
      await assertRejects(() => open(dir), StoreError, "failed to read or write");
      assertEquals((await kv.get(["lease"])).value, null);
      await kv.delete([...PENDING_PREFIX, 1, 1]);
    } finally {
      kv.close();
    }
    // Before, the failed open kept its lease (and this process's claim on the
    // path) until the lease expired: this open was refused as "in use".
    const store = await open(dir);
    await store.close();
  });
});
