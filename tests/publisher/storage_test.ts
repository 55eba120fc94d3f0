// A store that cannot be written, through the publisher: publish() rejects
// with a StoreError, health says why, and nothing accepted before is lost.

import assert from "node:assert/strict";
import { TestConsumer, testEvent } from "../_broker.ts";
import { silent } from "../_dead_letters.ts";
import { TcpProxy } from "../_proxy.ts";
import { CAN_MOUNT, withTmpfs } from "../_tmpfs.ts";
import { createRabbitMQAsyncEventPublisher, StoreError } from "../../mod.ts";

Deno.test("createRabbitMQAsyncEventPublisher() names the store's path and the failure", async () => {
  const dir = await Deno.makeTempDir({ prefix: "storage_test_" });
  try {
    const path = `${dir}/events.kv`;
    await Deno.writeTextFile(path, "not a database ".repeat(100));
    await assert.rejects(
      createRabbitMQAsyncEventPublisher(
        { url: "amqp://guest:guest@127.0.0.1:1", exchange: "storage.corrupt" },
        { bufferConfig: { enablePersistence: true, persistentStoragePath: path } },
        { logger: silent },
      ),
      (error) => error instanceof StoreError && error.kind === "corrupt" && error.path === path,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "on a full disk publish() rejects with a StoreError, health says so, and what was accepted arrives",
  ignore: !CAN_MOUNT,
  fn: async () => {
    await using consumer = await TestConsumer.start();
    await using proxy = await TcpProxy.start();
    await withTmpfs(2048, async (dir) => {
      const ballast = `${dir}/ballast`;
      await Deno.writeFile(ballast, new Uint8Array(1024 * 1024));
      const path = `${dir}/events.kv`;
      proxy.refuse();
      const publisher = await createRabbitMQAsyncEventPublisher(
        { url: proxy.url, exchange: consumer.exchange, reconnectBaseDelay: 50 },
        { bufferConfig: { enablePersistence: true, persistentStoragePath: path } },
        { logger: silent },
      );
      try {
        const accepted: string[] = [];
        let failure: unknown;
        for (let i = 0; i < 1_000 && failure === undefined; i++) {
          const event = { ...testEvent(i), data: { text: "x".repeat(20_000) } };
          try {
            await publisher.publish(event);
            accepted.push(event.id);
          } catch (error) {
            failure = error;
          }
        }
        assert(failure instanceof StoreError, `not a StoreError: ${failure}`);
        assert.equal(failure.kind, "disk-full");
        assert.equal(failure.path, path);
        assert(accepted.length > 0);
        assert.equal(publisher.getStats().bufferStats.size, accepted.length);
        const storage = publisher.getHealth().checks.storage;
        assert.equal(storage.ok, false);
        assert.match(
          storage.reason ?? "",
          new RegExp(
            `^the last write to the event store failed: the event store at ${path} ` +
              `cannot be written: the disk is full`,
          ),
        );

        await Deno.remove(ballast);
        const late = testEvent(5_000);
        assert.equal((await publisher.publish(late)).status, "buffered");
        accepted.push(late.id);
        assert.deepEqual(publisher.getHealth().checks.storage, { ok: true });

        proxy.restore();
        await consumer.waitFor(accepted.length, 30_000);
        const received = new Set(consumer.messages.map((m) => m.properties.messageId));
        assert.deepEqual(accepted.filter((id) => !received.has(id)), []);
      } finally {
        await publisher.close({ timeoutMs: 5_000 });
      }
    });
  },
});
