// What the cluster failover test observes: samples of a publisher's
// confirms and node (and the interruption a node loss caused), the quorum
// queue read back by an independent consumer, and the verdict.

import { AMQPClient } from "@cloudamqp/amqp-client";
import type { Cluster } from "../_cluster.ts";
import { sleep } from "../_wait.ts";
import type { DomainEvent, RabbitMQAsyncEventPublisher } from "../../mod.ts";

/** The quorum queue's binding key; events of other types are unroutable. */
export const BINDING = "cluster.#";

/** One look at a publisher: its confirm count, connection and node. */
export interface Sample {
  at: number;
  published: number;
  state: string;
  url?: string;
  pending?: number;
}

/** What a node loss cost, seen from the publisher's samples. */
export interface Interruption {
  /** From the stop command to the first sample not connected to the node. */
  noticedMs?: number;
  /** From the stop command to the first new confirm after it. */
  resumedMs?: number;
  from?: string;
  to?: string;
}

export function interruption(
  samples: readonly Sample[],
  faultAt: number,
  cluster: Cluster,
): Interruption {
  const before = samples.filter((s) => s.at <= faultAt).at(-1);
  const result: Interruption = { from: cluster.nodeOfUrl(before?.url)?.name };
  const after = samples.filter((s) => s.at > faultAt);
  // No loss at all when the publisher was on another node.
  const lost = after.find((s) => s.state !== "connected" || s.url !== before?.url);
  if (lost !== undefined) result.noticedMs = lost.at - faultAt;
  const base = lost ?? before;
  const resumed = after.find((s) =>
    s.at >= (base?.at ?? 0) && s.published > (base?.published ?? 0)
  );
  if (resumed !== undefined) {
    result.resumedMs = resumed.at - faultAt;
    result.to = cluster.nodeOfUrl(resumed.url)?.name;
  }
  return result;
}

/**
 * "c1 -> c2: connection lost 2758 ms into the stop, confirms again 114 ms
 * after the loss": the stop command's own start-up (the Erlang CLI) is in the
 * first figure, the publisher's failover in the second.
 */
export function describe(what: Interruption): string {
  const { noticedMs, resumedMs } = what;
  const lost = noticedMs === undefined
    ? "connection not lost"
    : `connection lost ${noticedMs} ms into the stop`;
  const resumed = resumedMs === undefined
    ? "no confirm since"
    : noticedMs === undefined
    ? `confirms went on (${resumedMs} ms)`
    : `confirms again ${resumedMs - noticedMs} ms after the loss`;
  return `${what.from ?? "?"} -> ${what.to ?? "?"}: ${lost}, ${resumed}`;
}

/** Samples a publisher in this process every 20 ms. */
export function sampleEvery20ms(
  publisher: RabbitMQAsyncEventPublisher,
  into: Sample[],
): () => void {
  const timer = setInterval(() => {
    const stats = publisher.getStats();
    into.push({
      at: Date.now(),
      published: stats.publishedEvents,
      state: stats.connectionState,
      url: stats.brokerUrl,
    });
  }, 20);
  return () => clearInterval(timer);
}

export async function connectAny(cluster: Cluster): Promise<AMQPClient> {
  for (const url of cluster.urls) {
    const client = new AMQPClient(url);
    try {
      await client.connect();
      return client;
    } catch {
      // That node is down; the next one.
    }
  }
  throw new Error("no cluster node accepts AMQP connections");
}

/** The exchange, and a quorum queue bound to it for `cluster.#`. */
export async function declareTopology(
  cluster: Cluster,
  exchange: string,
  queue: string,
): Promise<void> {
  const client = await connectAny(cluster);
  try {
    const ch = await client.channel();
    await ch.exchangeDeclare(exchange, "topic", { durable: true });
    await ch.queueDeclare(queue, { durable: true }, { "x-queue-type": "quorum" });
    await ch.queueBind(queue, exchange, BINDING);
  } finally {
    await client.close();
  }
}

export interface Count {
  /** Deliveries per expected id. */
  counts: Map<string, number>;
  /** Every delivery. */
  total: number;
  /** Deliveries of ids not expected. */
  unknown: string[];
}

/**
 * Consumes `queue` until every expected id arrived and it stayed empty for a
 * second (so late duplicates are counted too), or `timeoutMs` passed.
 */
export async function readQueue(
  cluster: Cluster,
  queue: string,
  expected: ReadonlySet<string>,
  timeoutMs = 60_000,
): Promise<Count> {
  const result: Count = { counts: new Map(), total: 0, unknown: [] };
  let lastAt = Date.now();
  const client = await connectAny(cluster);
  try {
    const ch = await client.channel();
    const consumer = await ch.basicConsume(queue, { noAck: true }, (msg) => {
      result.total++;
      lastAt = Date.now();
      const id = msg.properties.messageId ?? "";
      if (expected.has(id)) result.counts.set(id, (result.counts.get(id) ?? 0) + 1);
      else result.unknown.push(id);
    });
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      await sleep(200);
      if (result.counts.size < expected.size || Date.now() - lastAt < 1_000) continue;
      if ((await ch.queueDeclare(queue, { passive: true })).messageCount === 0) break;
    }
    await consumer.cancel();
  } finally {
    await client.close();
  }
  return result;
}

export function event(id: string, type = "cluster.event"): DomainEvent {
  return { id, type, data: { id } };
}

/**
 * Publishes 10 events every 20 ms until `signal` aborts; resolves with the
 * ids whose publish() resolved.
 */
export async function publishUntil(
  publisher: RabbitMQAsyncEventPublisher,
  prefix: string,
  signal: AbortSignal,
): Promise<string[]> {
  const accepted: string[] = [];
  for (let n = 0; !signal.aborted; n += 10) {
    const events = Array.from({ length: 10 }, (_, i) => event(`${prefix}-${n + i}`));
    await publisher.publishBatch(events);
    accepted.push(...events.map((e) => e.id));
    await sleep(20);
  }
  return accepted;
}

/** The verdict of one scenario: zero loss, bounded duplicates. */
export function verdict(
  name: string,
  accepted: ReadonlySet<string>,
  count: Count,
  maxDuplicates: number,
): { missing: string[]; duplicates: number } {
  const missing = [...accepted].filter((id) => !count.counts.has(id));
  const duplicates = count.total - count.unknown.length - count.counts.size;
  console.log(
    `${name}: accepted=${accepted.size} received=${count.total} distinct=${count.counts.size} ` +
      `missing=${missing.length} duplicates=${duplicates} (bound ${maxDuplicates}) ` +
      `unknown=${count.unknown.length}`,
  );
  return { missing, duplicates };
}

/** How many channels a publisher replaced because the broker only nacked them, from its warnings. */
export function nackedChannels(lines: readonly string[]): number {
  return lines.filter((line) => line.includes("nacked every publish on the channel")).length;
}

export function printLog(lines: readonly string[]): void {
  if (lines.length === 0) return;
  console.log(`  publisher warnings/errors (${lines.length}, first 15):`);
  for (const line of lines.slice(0, 15)) console.log(`    ${line}`);
}
