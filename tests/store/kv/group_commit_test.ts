// The group commit of the KV store: concurrent writes share atomics, within
// Deno KV's mutation and byte limits; deferred deletes ride with the next
// commit, and one lost in a crash means a re-send, never a loss.

import { encodeEvent } from "../../../src/event.ts";
import { KEY_BYTES } from "../../../src/store/kv/_codec.ts";
import { GroupCommit } from "../../../src/store/kv/_group_commit.ts";
import { assert, assertEquals, event, interceptCommits, open, withDir } from "./_helpers.ts";

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

/** Runs the lost-delete child, which kills itself, then reads the store it left. */
async function afterKill(dir: string, mode: "at-once" | "after-a-commit"): Promise<string[]> {
  const path = `${dir}/events.kv`;
  const child = new URL("./_lost_delete_child.ts", import.meta.url).pathname;
  const { code, signal } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", child, path, mode],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  assert(signal === "SIGKILL", `the child ended with code ${code}, signal ${signal}`);
  const store = await open(dir);
  try {
    return (await store.take(10, Date.now())).map((r) => r.id);
  } finally {
    await store.close();
  }
}

Deno.test("KvStore: a confirmed event whose delete was not committed before a crash is sent again", async () => {
  await withDir(async (dir) => {
    assertEquals(await afterKill(dir, "at-once"), ["confirmed", "in-flight"]);
  });
});

Deno.test("KvStore: the delete of a removed event rides with the next commit", async () => {
  await withDir(async (dir) => {
    assertEquals(await afterKill(dir, "after-a-commit"), ["in-flight", "later"]);
  });
});

/** A KV whose next `failures` commits fail, as a full disk would make them. */
function failingKv(kv: Deno.Kv, state: { failures: number }): Deno.Kv {
  return interceptCommits(
    kv,
    (commit) => state.failures-- > 0 ? Promise.reject(new Error("disk I/O error")) : commit(),
  );
}

Deno.test("GroupCommit retries a deferred write whose atomic failed with the next commit, and at idle()", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const state = { failures: 1 };
    const writes = new GroupCommit(failingKv(kv, state), () => 0);
    await kv.set(["k", 1], "one");
    await kv.set(["k", 2], "two");
    writes.defer([{ key: ["k", 1], size: KEY_BYTES }]);
    await writes.idle();
    assert(writes.failure?.message === "disk I/O error", `failure: ${writes.failure}`);
    assertEquals((await kv.get(["k", 1])).value, "one"); // not deleted: the atomic failed
    // Not retried on its own, but with the next write's commit.
    await writes.enqueue([{ key: ["k", 3], value: "three", size: KEY_BYTES }]);
    assertEquals((await kv.get(["k", 1])).value, null);
    assertEquals(writes.failure, undefined);
    // A deferred write still failing at idle() gets one more try then.
    state.failures = 1;
    writes.defer([{ key: ["k", 2], size: KEY_BYTES }]);
    await Promise.resolve();
    while ((await kv.get(["k", 2])).value !== null && writes.failure === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assertEquals((await kv.get(["k", 2])).value, "two");
    await writes.idle();
    assertEquals((await kv.get(["k", 2])).value, null);
  } finally {
    kv.close();
  }
});
