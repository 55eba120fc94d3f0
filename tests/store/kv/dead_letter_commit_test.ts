// Regression tests: KvStore writes the dead letter of an evicted or expired
// event in the same commit that drops the event, so a crash cannot lose it.

import assert from "node:assert/strict";
import {
  type AsyncPublishConfig,
  createRabbitMQAsyncEventPublisher,
  KvStore,
  type RabbitMQAsyncEventPublisher,
  type StoreLimits,
} from "../../../mod.ts";
import { FakeTransport } from "../../_fake_transport.ts";
import { reviewEvent as event, withDir } from "../../_pipeline.ts";
import { until } from "../../_wait.ts";

const EXCHANGE = "x";

// ---------------------------------------------------------------------------
// 3. Eviction and expiry once deleted the pending record on disk before the
//    dead letter was written: a crash in between lost the event. The store
//    now writes both in one commit, dead letter first.
// ---------------------------------------------------------------------------

/** What is on disk for an event id, read through a second handle on the same file. */
async function onDisk(path: string, id: string): Promise<{ pending: boolean; dead: boolean }> {
  const kv = await Deno.openKv(path);
  try {
    let pending = false;
    let dead = false;
    for await (const e of kv.list<{ id: string }>({ prefix: ["pending"] })) {
      if (e.value.id === id) pending = true;
    }
    for await (const e of kv.list<{ id: string }>({ prefix: ["dead"] })) {
      if (e.value.id === id) dead = true;
    }
    return { pending, dead };
  } finally {
    kv.close();
  }
}

/**
 * Runs `check` against a publisher on a KV store whose broker never answers,
 * so dead letters stay on disk where `onDisk()` can see them.
 */
async function withOfflineKvPublisher(
  limits: StoreLimits,
  config: AsyncPublishConfig,
  check: (publisher: RabbitMQAsyncEventPublisher, store: KvStore, path: string) => Promise<void>,
): Promise<void> {
  await withDir(async (dir) => {
    const path = `${dir}/events.kv`;
    const store = await KvStore.open({ path, limits, memoryLimit: 100 });
    const fake = new FakeTransport({ startConnected: false, reconnectDelayMs: undefined });
    const publisher = await createRabbitMQAsyncEventPublisher(
      { exchange: EXCHANGE },
      { flushInterval: 5, ...config },
      { transport: fake, store },
    );
    try {
      await check(publisher, store, path);
    } finally {
      await publisher.close({ timeoutMs: 100 });
      await fake.close();
    }
  });
}

Deno.test("KvStore writes an evicted event's dead letter in the commit that drops it", async () => {
  const limits: StoreLimits = {
    maxEvents: 2,
    maxBytes: 1_000_000,
    overflow: "drop-oldest-lowest-priority",
  };
  await withOfflineKvPublisher(limits, {}, async (publisher, store, path) => {
    const victim = event("low");
    await publisher.publish(victim);
    await publisher.publish(event("low"));
    await publisher.publish(event("normal")); // evicts `victim`
    // Once publish() resolved, the eviction is on disk: as a dead letter, not as nothing.
    assert.deepEqual(await onDisk(path, victim.id), { pending: false, dead: true });
    const [letter] = await store.listDeadLetters();
    assert.equal(letter.reason, "evicted");
  });
});

Deno.test("KvStore writes an expired event's dead letter in the commit that drops it", async () => {
  const limits: StoreLimits = { maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" };
  const config = { bufferConfig: { maxEventAge: 50, cleanupInterval: 100 } };
  await withOfflineKvPublisher(limits, config, async (publisher, store, path) => {
    const old = event();
    await publisher.publish(old);
    await until(() => publisher.getStats().deadLetteredEvents === 1, "the expiry", 5_000);
    assert.deepEqual(await onDisk(path, old.id), { pending: false, dead: true });
    const [letter] = await store.listDeadLetters();
    assert.equal(letter.reason, "expired");
  });
});
