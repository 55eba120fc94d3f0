// Failover on a real three-node RabbitMQ cluster started by the test itself
// (tests/_cluster.ts; it never touches the broker on 5672). A publisher given
// every node's URL loses one node at a time: the one it is connected to; the
// one holding its dead-letter queue; two in turn, with the publishing process
// killed (SIGKILL) in between. Each scenario counts, with an independent
// consumer on a quorum queue bound to the exchange, the distinct message_id of
// every accepted event: none may be missing, duplicates are bounded, and the
// time to resume is reported.
//
// It takes minutes, so it is not a `_test.ts` file: `deno task test:cluster`.

import assert from "node:assert/strict";
import { Cluster, type ClusterNode } from "../_cluster.ts";
import { uniqueName } from "../_broker.ts";
import { poll, sleep } from "../_wait.ts";
import { createRabbitMQAsyncEventPublisher, type RabbitMQAsyncEventPublisher } from "../../mod.ts";
import { Child } from "./_child.ts";
import { failoverAsyncConfig, failoverRabbitConfig, MAX_IN_FLIGHT } from "./_failover_config.ts";
import {
  declareTopology,
  describe,
  event,
  interruption,
  printLog,
  publishUntil,
  readQueue,
  recordingLogger,
  type Sample,
  sampleEvery20ms,
  verdict,
} from "./_observe.ts";

// How long the survivors get to deliver every accepted event while the
// stopped node is still down. Generous: it bounds a failing run, not a timing.
const DELIVER_WHILE_DOWN_MS = 45_000;
// Publishing goes on this long after a node was stopped.
const PUBLISH_AFTER_FAULT_MS = 3_000;

async function stopConnectedNode(cluster: Cluster): Promise<void> {
  const exchange = uniqueName("failover");
  const queue = `${exchange}.q`;
  const connectionName = uniqueName("publisher");
  const log: string[] = [];
  await declareTopology(cluster, exchange, queue);
  const publisher = await createRabbitMQAsyncEventPublisher(
    failoverRabbitConfig(cluster.urls, exchange, connectionName),
    failoverAsyncConfig(),
    { logger: recordingLogger(log), requireConnection: true },
  );
  const samples: Sample[] = [];
  const stopSampling = sampleEvery20ms(publisher, samples);
  const stopPublishing = new AbortController();
  let victim: ClusterNode | undefined;
  try {
    const publishing = publishUntil(publisher, "s1", stopPublishing.signal);
    await sleep(2_000);
    victim = cluster.nodeOfUrl(publisher.getStats().brokerUrl);
    assert(victim, `the publisher is on no cluster node: ${publisher.getStats().brokerUrl}`);
    const faultAt = Date.now();
    await cluster.stopNode(victim, "node");
    await sleep(PUBLISH_AFTER_FAULT_MS);
    stopPublishing.abort();
    const accepted = new Set(await publishing);
    const delivered = await poll(
      () => publisher.getStats().bufferStats.size === 0,
      DELIVER_WHILE_DOWN_MS,
    );
    const pendingWhileDown = publisher.getStats().bufferStats.size;
    const drainedWhileDownAt = Date.now();
    const lostAndResumed = interruption(samples, faultAt, cluster);
    const stopped = victim;
    victim = undefined;
    const restartAt = Date.now();
    await cluster.startNode(stopped);
    await cluster.waitUntilRunning();
    const drainedAfterRestart = await poll(
      () => publisher.getStats().bufferStats.size === 0,
      60_000,
    );
    const count = await readQueue(cluster, queue, accepted);
    console.log(
      `stop the connected node (${stopped.name}): ${describe(lostAndResumed)}; ` +
        (delivered
          ? `all delivered while it was down, ${drainedWhileDownAt - faultAt} ms after the stop`
          : `${pendingWhileDown} events still pending ${DELIVER_WHILE_DOWN_MS} ms after the ` +
            `stop; after its restart ${
              drainedAfterRestart ? `delivered in ${Date.now() - restartAt} ms` : "still pending"
            }`),
    );
    const { missing, duplicates } = verdict(
      "stop the connected node",
      accepted,
      count,
      MAX_IN_FLIGHT,
    );
    if (!delivered || missing.length > 0) printLog(log);
    assert(delivered, `${pendingWhileDown} events waited for the stopped node to come back`);
    assert.equal(missing.length, 0, `missing: ${missing.slice(0, 5).join(", ")}`);
    assert(duplicates <= MAX_IN_FLIGHT, `${duplicates} duplicates`);
    assert.deepEqual(count.unknown, []);
  } finally {
    stopPublishing.abort();
    stopSampling();
    if (victim) await cluster.startNode(victim).catch(() => {});
    await publisher.close({ timeoutMs: 5_000 });
  }
}

async function stopDeadLetterNode(cluster: Cluster): Promise<void> {
  const exchange = uniqueName("failover");
  const queue = `${exchange}.q`;
  const deadLetterQueue = `${exchange}.dead-letter`;
  const log: string[] = [];
  await declareTopology(cluster, exchange, queue);
  const first = await createRabbitMQAsyncEventPublisher(
    failoverRabbitConfig(cluster.urls, exchange, uniqueName("publisher")),
    failoverAsyncConfig(),
    { logger: recordingLogger(log), requireConnection: true },
  );
  let second: RabbitMQAsyncEventPublisher | undefined;
  const samples: Sample[] = [];
  const stopSampling = sampleEvery20ms(first, samples);
  const stopPublishing = new AbortController();
  let victim: ClusterNode | undefined;
  try {
    // Unroutable events become dead letters (reason "unroutable"): the first
    // one makes the dead-letter queue exist, wherever the publisher puts it.
    const deadLetterIds = ["s2-dead-0"];
    await first.publish(event(deadLetterIds[0], "nobody.listens"));
    const shipped = await poll(() => {
      const stats = first.getStats();
      return stats.deadLetteredEvents === 1 && stats.bufferStats.localDeadLetters === 0;
    }, 20_000);
    assert(shipped, "the first dead letter did not reach the broker");
    const holder = await cluster.queueNode(deadLetterQueue);
    assert(holder, `no node holds ${deadLetterQueue}`);
    victim = holder;
    const publishing = [publishUntil(first, "s2a", stopPublishing.signal)];
    await sleep(1_000);
    const faultAt = Date.now();
    await cluster.stopNode(holder, "node");
    // A service that starts while that node is down, with the node first in its list.
    const urls = [holder.url, ...cluster.others(holder).map((node) => node.url)];
    const startedAt = Date.now();
    second = await createRabbitMQAsyncEventPublisher(
      failoverRabbitConfig(urls, exchange, uniqueName("publisher")),
      failoverAsyncConfig(),
      { logger: recordingLogger(log) },
    );
    const secondConnected = second.getStats().connectionState === "connected";
    const secondStartMs = Date.now() - startedAt;
    publishing.push(publishUntil(second, "s2b", stopPublishing.signal));
    for (const [i, publisher] of [first, second].entries()) {
      for (let n = 1; n <= 3; n++) {
        const id = `s2-dead-${i}-${n}`;
        deadLetterIds.push(id);
        await publisher.publish(event(id, "nobody.listens"));
      }
    }
    await sleep(PUBLISH_AFTER_FAULT_MS);
    stopPublishing.abort();
    const accepted = new Set((await Promise.all(publishing)).flat());
    const both = [first, second];
    const pending = () => both.reduce((sum, p) => sum + p.getStats().bufferStats.size, 0);
    const local = () => both.reduce((sum, p) => sum + p.getStats().bufferStats.localDeadLetters, 0);
    const delivered = await poll(() => pending() === 0, DELIVER_WHILE_DOWN_MS);
    const drainedAt = Date.now();
    const pendingWhileDown = pending();
    const localWhileDown = local();
    const lostAndResumed = interruption(samples, faultAt, cluster);
    victim = undefined;
    await cluster.startNode(holder);
    await cluster.waitUntilRunning();
    const allShipped = await poll(() => local() === 0 && pending() === 0, 60_000);
    const count = await readQueue(cluster, queue, accepted);
    const letters = await readQueue(cluster, deadLetterQueue, new Set(deadLetterIds), 15_000);
    console.log(
      `stop the dead-letter queue's node (${holder.name}): first publisher ${
        describe(lostAndResumed)
      }; a second publisher started during the outage ${
        secondConnected ? "connected" : "did NOT connect"
      } in ${secondStartMs} ms; ` +
        (delivered
          ? `all delivered while the node was down, ${drainedAt - faultAt} ms after the stop`
          : `${pendingWhileDown} events still pending ${DELIVER_WHILE_DOWN_MS} ms after the stop`) +
        `; ${localWhileDown} dead letters held locally meanwhile; after the restart ${
          allShipped ? "all shipped" : `${local()} dead letters still local`
        }, ${letters.counts.size}/${deadLetterIds.length} in ${deadLetterQueue}`,
    );
    const bound = 2 * MAX_IN_FLIGHT;
    const { missing, duplicates } = verdict(
      "stop the dead-letter queue's node",
      accepted,
      count,
      bound,
    );
    if (!delivered || missing.length > 0 || !allShipped) printLog(log);
    assert(delivered, `${pendingWhileDown} events waited for the dead-letter queue's node`);
    assert(secondConnected, "a publisher starting while the node was down did not connect");
    assert.equal(missing.length, 0, `missing: ${missing.slice(0, 5).join(", ")}`);
    assert(duplicates <= bound, `${duplicates} duplicates`);
    assert.deepEqual(count.unknown, []);
    assert(allShipped, `${local()} dead letters never reached ${deadLetterQueue}`);
    assert.equal(letters.counts.size, deadLetterIds.length, "every dead letter is in the queue");
  } finally {
    stopPublishing.abort();
    stopSampling();
    if (victim) await cluster.startNode(victim).catch(() => {});
    await first.close({ timeoutMs: 5_000 });
    await second?.close({ timeoutMs: 5_000 });
  }
}

/**
 * Stops the node a child is connected to and waits until its confirms resume
 * on the survivors; whether they did, is in the result.
 */
async function stopUnder(
  cluster: Cluster,
  child: Child,
): Promise<{ node: ClusterNode; faultAt: number; resumed: boolean }> {
  const node = cluster.nodeOfUrl(child.last?.url);
  assert(node, `the child is on no cluster node: ${child.last?.url}`);
  const faultAt = Date.now();
  await cluster.stopNode(node, "node");
  const resumed = await poll(
    () => interruption(child.samples, faultAt, cluster).resumedMs !== undefined,
    DELIVER_WHILE_DOWN_MS,
  );
  await sleep(PUBLISH_AFTER_FAULT_MS);
  return { node, faultAt, resumed };
}

async function twoRestartsAndACrash(cluster: Cluster): Promise<void> {
  const exchange = uniqueName("failover");
  const queue = `${exchange}.q`;
  const dir = await Deno.makeTempDir({ prefix: "failover-kv-" });
  const path = `${dir}/pending.kv`;
  const children: Child[] = [];
  const down = new Set<ClusterNode>();
  try {
    await declareTopology(cluster, exchange, queue);
    const going = (child: Child) => () =>
      child.accepted.length >= 300 && child.last?.state === "connected";
    const first = new Child(path, cluster.urls, exchange, "s3a");
    children.push(first);
    assert(await poll(going(first), 30_000), "the first child did not get going");
    // The first outage: the crash comes while the node is still down, and the
    // second process starts on the survivors from the first one's store.
    const a = await stopUnder(cluster, first);
    down.add(a.node);
    const lostA = interruption(first.samples, a.faultAt, cluster);
    await first.kill();
    const pendingAtKill = first.last?.pending ?? 0;
    const second = new Child(path, cluster.urls, exchange, "s3b");
    children.push(second);
    const secondGoing = await poll(going(second), DELIVER_WHILE_DOWN_MS);
    await cluster.startNode(a.node);
    await cluster.waitUntilRunning();
    down.delete(a.node);
    assert(secondGoing, "the second child did not get going while a node was down");
    const b = await stopUnder(cluster, second);
    down.add(b.node);
    const lostB = interruption(second.samples, b.faultAt, cluster);
    await cluster.startNode(b.node);
    await cluster.waitUntilRunning();
    down.delete(b.node);
    await second.stop();
    const accepted = new Set([...first.accepted, ...second.accepted]);
    const count = await readQueue(cluster, queue, accepted);
    // Events in flight at the kill: published, never acknowledged to the caller.
    const unacknowledged = count.unknown.filter((id) => id.startsWith("s3a-"));
    count.unknown = count.unknown.filter((id) => !id.startsWith("s3a-"));
    console.log(
      `stop and restart two nodes, kill -9 in between: ${a.node.name} (${describe(lostA)}), ` +
        `SIGKILL with ${pendingAtKill} pending, a new process ${
          secondGoing ? "publishing" : "NOT publishing"
        } while ${a.node.name} was down, then ${b.node.name} (${describe(lostB)}); ` +
        `graceful close left ${second.closed?.remaining ?? "?"}; ` +
        `${unacknowledged.length} events unacknowledged at the kill arrived too`,
    );
    const bound = 3 * MAX_IN_FLIGHT;
    const { missing, duplicates } = verdict("two restarts and a crash", accepted, count, bound);
    if (!a.resumed || !b.resumed || missing.length > 0) {
      for (const child of children) printLog(child.log);
    }
    assert(a.resumed, `confirms did not resume while ${a.node.name} was down`);
    assert(b.resumed, `confirms did not resume while ${b.node.name} was down`);
    assert.equal(missing.length, 0, `missing: ${missing.slice(0, 5).join(", ")}`);
    assert(duplicates <= bound, `${duplicates} duplicates`);
    assert.deepEqual(count.unknown, []);
    assert.equal(second.closed?.remaining, 0, "the second child closed with nothing pending");
  } finally {
    for (const child of children) await child.kill();
    for (const node of down) await cluster.startNode(node).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a publisher given three nodes' URLs survives the loss of any node", async (t) => {
  const started = Date.now();
  await using cluster = await Cluster.start();
  await t.step("stopping the node it is connected to costs at most a reconnect", async () => {
    await stopConnectedNode(cluster);
  });
  await t.step("stopping the node of the dead-letter queue blocks no publishing", async () => {
    await stopDeadLetterNode(cluster);
  });
  await t.step(
    "two nodes stopped and restarted in turn, with a kill -9 in between, lose no event",
    async () => {
      await twoRestartsAndACrash(cluster);
    },
  );
  console.log(`cluster test: ${Math.round((Date.now() - started) / 1000)} s in all`);
});
