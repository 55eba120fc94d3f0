// Storage failures are StoreErrors that name the path and say what kind of
// failure they are; a failed write loses nothing that was stored before.

import assert from "node:assert/strict";
import { CAN_MOUNT, setReadOnly, withTmpfs } from "../../_tmpfs.ts";
import { encodeEvent, KvStore, StoreError, type StoreErrorKind } from "../../../mod.ts";

const LIMITS = { maxEvents: 100_000, maxBytes: 1e9, overflow: "reject" } as const;

function open(path: string): Promise<KvStore> {
  return KvStore.open({ path, limits: LIMITS, memoryLimit: 100 });
}

function event(n: number, bytes = 10) {
  return {
    ...encodeEvent({ id: `evt-${n}`, type: "t", data: { text: "x".repeat(bytes) } }),
    exchange: "x",
    acceptedAt: Date.now(),
  };
}

function isStoreError(kind: StoreErrorKind, path: string, beneath: RegExp) {
  return (error: unknown) => {
    assert(error instanceof StoreError, `not a StoreError: ${error}`);
    assert.equal(error.kind, kind);
    assert.equal(error.path, path);
    assert.match(error.message, new RegExp(`^the event store at ${path} `));
    assert.match((error.cause as Error).message, beneath);
    return true;
  };
}

Deno.test("KvStore.open() names the path and the kind when the file cannot be opened", async () => {
  const dir = await Deno.makeTempDir({ prefix: "store_error_test_" });
  try {
    await assert.rejects(open(dir), isStoreError("open", dir, /unable to open database file/));
    await Deno.writeTextFile(`${dir}/file`, "x");
    await assert.rejects(
      open(`${dir}/file/events.kv`),
      isStoreError("open", `${dir}/file/events.kv`, /File exists|Not a directory/),
    );
    await Deno.writeTextFile(`${dir}/junk.kv`, "not a database ".repeat(100));
    await assert.rejects(
      open(`${dir}/junk.kv`),
      (error) =>
        isStoreError("corrupt", `${dir}/junk.kv`, /file is not a database/)(error) &&
        /is not a Deno KV database, or is damaged/.test((error as Error).message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "KvStore.open() on a read-only file system is a read-only StoreError",
  ignore: !CAN_MOUNT,
  fn: async () => {
    await withTmpfs(1024, async (dir) => {
      await (await open(`${dir}/events.kv`)).close();
      await setReadOnly(dir, true);
      try {
        for (const path of [`${dir}/events.kv`, `${dir}/new.kv`]) {
          await assert.rejects(open(path), isStoreError("read-only", path, /unable to open/));
        }
      } finally {
        await setReadOnly(dir, false);
      }
    });
  },
});

Deno.test({
  name: "KvStore rejects an add() on a full disk with a disk-full StoreError and keeps what it had",
  ignore: !CAN_MOUNT,
  fn: async () => {
    await withTmpfs(2048, async (dir) => {
      const ballast = `${dir}/ballast`;
      await Deno.writeFile(ballast, new Uint8Array(1024 * 1024));
      const path = `${dir}/events.kv`;
      const store = await open(path);
      let stored = 0;
      let failure: unknown;
      try {
        for (; stored < 10_000; stored++) await store.add([event(stored, 20_000)]);
      } catch (error) {
        failure = error;
      }
      assert(isStoreError("disk-full", path, /database or disk is full/)(failure));
      assert(stored > 0, "some events fitted before the disk was full");
      assert.equal(store.stats().size, stored);
      assert.match(store.stats().storageError ?? "", /the disk is full/);

      await Deno.remove(ballast);
      await store.add([event(99_999, 10)]);
      assert.equal(store.stats().storageError, undefined, "a commit succeeded since");
      assert.equal(store.stats().size, stored + 1);
      await store.close();

      const again = await open(path);
      try {
        assert.equal(again.stats().size, stored + 1, "every stored event survived");
      } finally {
        await again.close();
      }
    });
  },
});

/** Fills the file system at `dir` to the last byte with a file; returns its path. */
async function fillUp(dir: string): Promise<string> {
  const path = `${dir}/ballast`;
  const file = await Deno.open(path, { write: true, create: true });
  try {
    const chunk = new Uint8Array(4096);
    for (;;) await file.write(chunk);
  } catch (error) {
    if (!/No space left|os error 28/.test((error as Error).message)) throw error;
  } finally {
    file.close();
  }
  return path;
}

Deno.test({
  name: "KvStore keeps an evicted or expired event pending when the commit that drops it fails",
  ignore: !CAN_MOUNT,
  fn: async () => {
    await withTmpfs(2048, async (dir) => {
      const path = `${dir}/events.kv`;
      const store = await KvStore.open({
        path,
        limits: { maxEvents: 5, maxBytes: 1e9, overflow: "drop-oldest-lowest-priority" },
        memoryLimit: 100,
      });
      try {
        await store.add([0, 1, 2, 3, 4].map((n) => event(n, 2_000)));
        const ballast = await fillUp(dir);
        await assert.rejects(store.add([event(5, 2_000)]), isStoreError("disk-full", path, /full/));
        await assert.rejects(
          store.expire(Date.now() + 1_000),
          isStoreError("disk-full", path, /full/),
        );
        const stats = store.stats();
        assert.deepEqual([stats.size, stats.droppedEvents, stats.expiredEvents], [5, 0, 0]);
        assert.equal(stats.deadLetters, 0);
        const held = await store.take(10, Date.now());
        assert.deepEqual(held.map((r) => r.id), ["evt-0", "evt-1", "evt-2", "evt-3", "evt-4"]);
        await Deno.remove(ballast);
        await store.release(held);
        const { evicted } = await store.add([event(5, 2_000)]);
        assert.deepEqual(evicted.map((l) => l.id), ["evt-0"]);
        assert.equal(store.stats().size, 5);
      } finally {
        await store.close();
      }
    });
  },
});
