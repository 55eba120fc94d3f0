// Failover on a real three-node RabbitMQ cluster started by the test itself
// (tests/_cluster.ts; it never touches the broker on 5672). A publisher given
// every node's URL loses one node at a time: the one it is connected to
// (SIGTERM); the one holding its dead-letter queue (a classic one, which
// cannot be reached then; stop_app); two in turn (a crash by SIGKILL, then a
// SIGTERM), with the publishing process killed (SIGKILL) in between. Each
// scenario counts, with an independent consumer on a quorum queue bound to
// the exchange, the distinct message_id of every accepted event: none may be
// missing, duplicates are bounded. Where the publisher loses the node it is
// connected to, that node is made the quorum queue's leader first, the worst
// case (the survivors elect a new leader while the publisher reconnects),
// and confirms must resume within RESUME_WITHIN_MS.
//
// It takes minutes, so it is not a `_test.ts` file: `deno task test:cluster`.

import assert from "node:assert/strict";
import { Cluster, type ClusterNode } from "../_cluster.ts";
import { uniqueName } from "../_broker.ts";
import { problemLines, recordingLogger } from "../_logger.ts";
import { poll, sleep } from "../_wait.ts";
import { createRabbitMQAsyncEventPublisher, type RabbitMQAsyncEventPublisher } from "../../mod.ts";
import { Child } from "./_child.ts";
import {
  CIRCUIT_RESET,
  failoverAsyncConfig,
  failoverRabbitConfig,
  MAX_IN_FLIGHT,
  RECONNECT_MAX_DELAY,
  RETRY_MAX_DELAY,
} from "./_failover_config.ts";
import {
  declareTopology,
  describe,
  event,
  interruption,
  nackedChannels,
  printLog,
  publishUntil,
  readQueue,
  type Sample,
  sampleEvery20ms,
  verdict,
} from "./_observe.ts";

// How long the survivors get to deliver every accepted event while the
// stopped node is still down. Generous: it bounds a failing run, not a timing.
const DELIVER_WHILE_DOWN_MS = 45_000;
// Publishing goes on this long after a node was stopped.
const PUBLISH_AFTER_FAULT_MS = 2_000;
// Time for the survivors to elect a new leader of the quorum queue once the
// leader's node is gone: a few hundred ms measured, seconds on a loaded
// machine.
const ELECTION_MS = 3_000;
/**
 * How soon after a node stops confirms must come again, when the publisher
 * was connected to it and it led the quorum queue: one failed round of
 * reconnection, the election, and the publisher's answer to the nacks the
 * survivors give meanwhile (the circuit opens; a probe after its reset, on a
 * new channel, can still come before the election ended, so two resets),
 * plus one retry backoff: 9 s with the failover settings. Measured over six
 * runs: 0.1-1.3 s from the stop, so this is about 7 times the slowest. A
 * stall (a channel that stays refused, a reconnect stuck on the dead node)
 * lasts until the node is back, and fails here.
 */
const RESUME_WITHIN_MS = RECONNECT_MAX_DELAY + ELECTION_MS + 2 * CIRCUIT_RESET + RETRY_MAX_DELAY;

async function stopConnectedNode(cluster: Cluster): Promise<void> {
  const exchange = uniqueName("failover");
  const queue = `${exchange}.q`;
  const connectionName = uniqueName("publisher");
  const logger = recordingLogger();
  await declareTopology(cluster, exchange, queue);
  const publisher = await createRabbitMQAsyncEventPublisher(
    failoverRabbitConfig(cluster.urls, exchange, connectionName),
    failoverAsyncConfig(),
    { logger, requireConnection: true },
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
    await cluster.moveQueueLeader(queue, victim);
    const faultAt = Date.now();
    // SIGTERM, as an orchestrator stops a node: a graceful shutdown.
    await cluster.stopNode(victim, "term");
    // Dead letters too: the quorum dead-letter queue keeps a majority.
    const deadLetterIds = ["s1-dead-1", "s1-dead-2", "s1-dead-3"];
    for (const id of deadLetterIds) await publisher.publish(event(id, "nobody.listens"));
    await sleep(PUBLISH_AFTER_FAULT_MS);
    stopPublishing.abort();
    const accepted = new Set(await publishing);
    const delivered = await poll(() => {
      const { size, localDeadLetters } = publisher.getStats().bufferStats;
      return size === 0 && localDeadLetters === 0;
    }, DELIVER_WHILE_DOWN_MS);
    const pendingWhileDown = publisher.getStats().bufferStats.size;
    const localWhileDown = publisher.getStats().bufferStats.localDeadLetters;
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
    const letters = await readQueue(
      cluster,
      `${exchange}.dead-letter`,
      new Set(deadLetterIds),
      15_000,
    );
    console.log(
      `stop the connected node (${stopped.name}, the queue's leader): ${
        describe(lostAndResumed)
      }, ${nackedChannels(problemLines(logger))} nacked channels replaced; ` +
        (delivered
          ? `all delivered while it was down (dead letters too), ` +
            `${drainedWhileDownAt - faultAt} ms after the stop`
          : `${pendingWhileDown} events and ${localWhileDown} dead letters still pending ` +
            `${DELIVER_WHILE_DOWN_MS} ms after the stop; after its restart ${
              drainedAfterRestart ? `delivered in ${Date.now() - restartAt} ms` : "still pending"
            }`),
    );
    const { missing, duplicates } = verdict(
      "stop the connected node",
      accepted,
      count,
      MAX_IN_FLIGHT,
    );
    const resumed = resumedInTime(lostAndResumed);
    if (!delivered || !resumed || missing.length > 0) printLog(problemLines(logger));
    assert(resumed, `confirms did not resume within ${RESUME_WITHIN_MS} ms of the stop`);
    assert(delivered, `${pendingWhileDown} events waited for the stopped node to come back`);
    assert.equal(missing.length, 0, `missing: ${missing.slice(0, 5).join(", ")}`);
    assert(duplicates <= MAX_IN_FLIGHT, `${duplicates} duplicates`);
    assert.deepEqual(count.unknown, []);
    assert.equal(letters.counts.size, deadLetterIds.length, "every dead letter is in the queue");
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
  const logger = recordingLogger();
  await declareTopology(cluster, exchange, queue);
  // A classic dead-letter queue lives on one node: with that node down it
  // cannot be reached at all, the hardest case (a quorum one keeps a majority).
  const open = (urls: string[], requireConnection = true) =>
    createRabbitMQAsyncEventPublisher(
      {
        ...failoverRabbitConfig(urls, exchange, uniqueName("publisher")),
        deadLetterQueueType: "classic",
      },
      failoverAsyncConfig(),
      { logger, requireConnection },
    );
  const publishers: RabbitMQAsyncEventPublisher[] = [];
  const samples: Sample[] = [];
  const stopPublishing = new AbortController();
  let stopSampling = () => {};
  let victim: ClusterNode | undefined;
  try {
    const first = await open(cluster.urls);
    publishers.push(first);
    stopSampling = sampleEvery20ms(first, samples);
    // Unroutable events become dead letters (reason "unroutable"): the first
    // one makes the dead-letter queue exist, on the first publisher's node.
    const deadLetterIds: string[] = [];
    const deadLetter = async (publisher: RabbitMQAsyncEventPublisher, id: string) => {
      deadLetterIds.push(id);
      await publisher.publish(event(id, "nobody.listens"));
    };
    const shipped = (publisher: RabbitMQAsyncEventPublisher, count: number) =>
      poll(() => {
        const stats = publisher.getStats();
        return stats.deadLetteredEvents === count && stats.bufferStats.localDeadLetters === 0;
      }, 20_000);
    await deadLetter(first, "s2-dead-a0");
    assert(await shipped(first, 1), "the first dead letter did not reach the broker");
    const holder = await cluster.queueNode(deadLetterQueue);
    assert(holder, `no node holds ${deadLetterQueue}`);
    // A publisher on the other nodes, whose connection has used the queue: it
    // stays connected, and its dead letters find the queue gone.
    const second = await open(cluster.others(holder).map((node) => node.url));
    publishers.push(second);
    await deadLetter(second, "s2-dead-b0");
    assert(await shipped(second, 1), "the second publisher's dead letter did not reach the broker");
    const publishing = [
      publishUntil(first, "s2a", stopPublishing.signal),
      publishUntil(second, "s2b", stopPublishing.signal),
    ];
    await sleep(1_000);
    victim = holder;
    const faultAt = Date.now();
    // The application only (stop_app): quicker back than a whole node, and
    // its queues are as unreachable.
    await cluster.stopNode(holder, "app");
    // A service that starts while that node is down, with the node first in its list.
    const startedAt = Date.now();
    const third = await open(
      [holder.url, ...cluster.others(holder).map((node) => node.url)],
      false,
    );
    publishers.push(third);
    const thirdConnected = third.getStats().connectionState === "connected";
    const thirdStartMs = Date.now() - startedAt;
    publishing.push(publishUntil(third, "s2c", stopPublishing.signal));
    for (const [i, publisher] of publishers.entries()) {
      for (let n = 1; n <= 3; n++) await deadLetter(publisher, `s2-dead-${"abc"[i]}${n}`);
    }
    await sleep(PUBLISH_AFTER_FAULT_MS);
    stopPublishing.abort();
    const accepted = new Set((await Promise.all(publishing)).flat());
    const sum = (pick: (stats: ReturnType<RabbitMQAsyncEventPublisher["getStats"]>) => number) =>
      publishers.reduce((total, p) => total + pick(p.getStats()), 0);
    const pending = () => sum((stats) => stats.bufferStats.size);
    const local = () => sum((stats) => stats.bufferStats.localDeadLetters);
    const delivered = await poll(() => pending() === 0, DELIVER_WHILE_DOWN_MS);
    const drainedAt = Date.now();
    const pendingWhileDown = pending();
    const localWhileDown = local();
    const lostAndResumed = interruption(samples, faultAt, cluster);
    victim = undefined;
    const restartAt = Date.now();
    await cluster.startNode(holder);
    await cluster.waitUntilRunning();
    const allShipped = await poll(() => local() === 0 && pending() === 0, 60_000);
    const shippedAfterMs = Date.now() - restartAt;
    const count = await readQueue(cluster, queue, accepted);
    const letters = await readQueue(cluster, deadLetterQueue, new Set(deadLetterIds), 15_000);
    console.log(
      `stop the dead-letter queue's node (${holder.name}): first publisher ${
        describe(lostAndResumed)
      }; one on the other nodes stayed connected; one started during the outage ${
        thirdConnected ? "connected" : "did NOT connect"
      } in ${thirdStartMs} ms; ` +
        (delivered
          ? `all delivered while the node was down, ${drainedAt - faultAt} ms after the stop`
          : `${pendingWhileDown} events still pending ${DELIVER_WHILE_DOWN_MS} ms after the stop`) +
        `; ${localWhileDown} dead letters held locally meanwhile; after the restart ${
          allShipped ? `all shipped in ${shippedAfterMs} ms` : `${local()} dead letters still local`
        }, ${letters.counts.size}/${deadLetterIds.length} in ${deadLetterQueue}`,
    );
    const bound = 3 * MAX_IN_FLIGHT;
    const { missing, duplicates } = verdict(
      "stop the dead-letter queue's node",
      accepted,
      count,
      bound,
    );
    if (!delivered || missing.length > 0 || !allShipped) printLog(problemLines(logger));
    assert(delivered, `${pendingWhileDown} events waited for the dead-letter queue's node`);
    assert(thirdConnected, "a publisher starting while the node was down did not connect");
    assert.equal(missing.length, 0, `missing: ${missing.slice(0, 5).join(", ")}`);
    assert(duplicates <= bound, `${duplicates} duplicates`);
    assert.deepEqual(count.unknown, []);
    assert(allShipped, `${local()} dead letters never reached ${deadLetterQueue}`);
    assert.equal(letters.counts.size, deadLetterIds.length, "every dead letter is in the queue");
  } finally {
    stopPublishing.abort();
    stopSampling();
    if (victim) await cluster.startNode(victim).catch(() => {});
    for (const publisher of publishers) await publisher.close({ timeoutMs: 5_000 });
  }
}

function resumedInTime({ resumedMs }: { resumedMs?: number }): boolean {
  return resumedMs !== undefined && resumedMs <= RESUME_WITHIN_MS;
}

/**
 * Makes the node a child is connected to the leader of `queue`, stops it,
 * and waits until the child's confirms resume on the survivors; whether they
 * did within RESUME_WITHIN_MS, is in the result.
 */
async function stopUnder(
  cluster: Cluster,
  child: Child,
  queue: string,
  how: "term" | "kill",
): Promise<{ node: ClusterNode; faultAt: number; resumed: boolean }> {
  const node = cluster.nodeOfUrl(child.last?.url);
  assert(node, `the child is on no cluster node: ${child.last?.url}`);
  await cluster.moveQueueLeader(queue, node);
  const faultAt = Date.now();
  await cluster.stopNode(node, how);
  // The child samples every 100 ms, and its samples reach us a little later.
  await poll(
    () => interruption(child.samples, faultAt, cluster).resumedMs !== undefined,
    RESUME_WITHIN_MS + 200,
  );
  const resumed = resumedInTime(interruption(child.samples, faultAt, cluster));
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
    // The first node crashes (SIGKILL): no orderly close of anything.
    const a = await stopUnder(cluster, first, queue, "kill");
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
    const b = await stopUnder(cluster, second, queue, "term");
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
      `stop and restart two nodes (each the queue's leader), kill -9 in between: ` +
        `${a.node.name} (${describe(lostA)}, ${nackedChannels(first.log)} nacked channels ` +
        `replaced), ` +
        `SIGKILL with ${pendingAtKill} pending, a new process ${
          secondGoing ? "publishing" : "NOT publishing"
        } while ${a.node.name} was down, then ${b.node.name} (${describe(lostB)}, ${
          nackedChannels(second.log)
        } nacked channels replaced); ` +
        `graceful close left ${second.closed?.remaining ?? "?"}; ` +
        `${unacknowledged.length} events unacknowledged at the kill arrived too`,
    );
    const bound = 3 * MAX_IN_FLIGHT;
    const { missing, duplicates } = verdict("two restarts and a crash", accepted, count, bound);
    if (!a.resumed || !b.resumed || missing.length > 0) {
      for (const child of children) printLog(child.log);
    }
    assert(
      a.resumed,
      `confirms did not resume within ${RESUME_WITHIN_MS} ms of ${a.node.name}'s stop`,
    );
    assert(
      b.resumed,
      `confirms did not resume within ${RESUME_WITHIN_MS} ms of ${b.node.name}'s stop`,
    );
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
  await t.step(
    "stopping the node of a classic dead-letter queue blocks no publishing",
    async () => {
      await stopDeadLetterNode(cluster);
    },
  );
  await t.step(
    "two nodes stopped and restarted in turn, with a kill -9 in between, lose no event",
    async () => {
      await twoRestartsAndACrash(cluster);
    },
  );
  console.log(`cluster test: ${Math.round((Date.now() - started) / 1000)} s in all`);
});
