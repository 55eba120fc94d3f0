// connection.blocked (a memory or disk alarm): nothing more is written, the
// events already written wait for their confirms through the alarm with no
// publish timeout running out, health and stats show the broker's reason,
// and nothing is sent twice. Scripted with the fake transport; the real
// alarm, on a broker node started for the test, is in broker_node_test.ts.

import assert from "node:assert/strict";
import { FakeTransport } from "../_fake_transport.ts";
import { sleep, until } from "../_wait.ts";
import { assertAddsUp, EXCHANGE, ledger, newEvents, publisherOn, snapshot } from "./_ledger.ts";

Deno.test("events written before connection.blocked are confirmed after the alarm, each sent once", async () => {
  const events = newEvents(50);
  const publishTimeout = 100;
  const fake = new FakeTransport({ script: () => ({ kind: "ok", delayMs: 30 }) });
  const { publisher, store } = await publisherOn(fake, { batchSize: 50, publishTimeout });
  try {
    await publisher.publishBatch(events);
    await until(() => fake.messagesInFlight() === 50, () => snapshot(publisher, fake));
    fake.block("low on memory");
    const sendsAtBlock = fake.sends.length;
    const late = newEvents(1)[0];
    assert.deepEqual(await publisher.publish(late), { id: late.id, status: "buffered" });
    // Longer than the publish timeout, several times over.
    await sleep(4 * publishTimeout);
    assert.equal(fake.sends.length, sendsAtBlock, "nothing is written while blocked");
    const stats = publisher.getStats();
    assert.equal(stats.connectionState, "blocked");
    assert.equal(stats.blockedReason, "low on memory");
    assert.equal(stats.unknownOutcomeFailures, 0, "no publish timed out while blocked");
    const health = publisher.getHealth();
    assert.equal(health.checks.connection.ok, false);
    assert.match(health.checks.connection.reason ?? "", /blocked.*low on memory/);

    fake.unblock();
    await until(() => store.counts().size === 0, () => snapshot(publisher, fake));
    const ids = [...events, late].map((e) => e.id);
    const account = await ledger(fake, store, ids);
    assertAddsUp(account, 51);
    assert.equal(account.confirmed.length, 51);
    for (const id of ids) assert.equal(fake.attemptsOf(id, EXCHANGE).length, 1, id);
    const after = publisher.getStats();
    assert.equal(after.failedEvents, 0);
    assert.equal(after.blockedReason, undefined);
    assert.equal(publisher.getHealth().checks.connection.ok, true);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});
