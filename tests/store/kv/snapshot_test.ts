import assert from "node:assert/strict";
import { KvSnapshot } from "../../../src/store/kv/_snapshot.ts";
import { encodeEvent, type EventPriority } from "../../../src/event.ts";
import { KvStore } from "../../../src/store/kv/kv_store.ts";
import { StoreError } from "../../../src/errors.ts";
import type { NewRecord } from "../../../src/store/store.ts";
import { localDeadLetter } from "../../_dead_letters.ts";

function event(id: string, priority: EventPriority, acceptedAt: number): NewRecord {
  return {
    ...encodeEvent({ id, type: "test.happened", data: { id, text: "€ and more" } }),
    priority,
    exchange: "domain-events",
    acceptedAt,
  };
}

async function withStore(fn: (path: string, store: KvStore) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "snapshot_test_" });
  const path = `${dir}/events.kv`;
  const store = await KvStore.open({
    path,
    limits: { maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" },
    memoryLimit: 10,
    owner: "order-service on host-a",
  });
  try {
    await fn(path, store);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("KvSnapshot reads a store a publisher holds, without taking its lease", async () => {
  await withStore(async (path, store) => {
    const now = Date.now();
    const added = [
      event("h1", "high", now - 5_000),
      event("n1", "normal", now - 9_000),
      event("n2", "normal", now - 1_000),
      event("l1", "low", now - 2_000),
    ];
    await store.add(added);
    const dead = [
      localDeadLetter(900, "domain-events"),
      localDeadLetter(901, "domain-events", { reason: "expired" }),
    ];
    await store.addDeadLetters(dead);

    const view = await KvSnapshot.open(path);
    assert.deepEqual(view.pending.byPriority, { high: 1, normal: 2, low: 1 });
    assert.equal(view.pending.total, 4);
    assert.equal(view.pending.bytes, added.reduce((sum, record) => sum + record.bytes, 0));
    assert.deepEqual(view.pending.oldest, { id: "n1", acceptedAt: now - 9_000 });
    assert.equal(view.holder?.owner, "order-service on host-a");
    assert.equal(view.holder?.pid, Deno.pid);
    assert(view.holder!.expiresAt > now);
    const letters = view.deadLetters;
    assert.deepEqual(letters.map((l) => [l.id, l.reason]), [
      [dead[0].id, "max-retries"],
      [dead[1].id, "expired"],
    ]);
    assert.deepEqual(JSON.parse(letters[0].body).data, { n: 900 });

    // The owner goes on as before: its lease was not touched.
    await store.add([event("after", "normal", now)]);
    assert.equal(store.stats().size, 5);
    assert.equal((await KvSnapshot.open(path)).pending.total, 5);
  });
});

Deno.test("KvSnapshot names the path and the failure when the file is not a Deno KV store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snapshot_test_" });
  try {
    const path = `${dir}/events.kv`;
    await Deno.writeTextFile(path, "not a database ".repeat(100));
    await assert.rejects(
      () => KvSnapshot.open(path),
      (error) => error instanceof StoreError && error.kind === "corrupt" && error.path === path,
    );
    await assert.rejects(
      () => KvSnapshot.open(dir),
      (error) => error instanceof StoreError && error.kind === "open" && error.path === dir,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
