// The broker side of the benchmark: a fresh exchange and queue per measured
// run (classic or quorum), short-lived admin connections, and telling a
// disturbed run (the shared broker closed our connection) from a failure.

import { type AMQPChannel, AMQPClient } from "@cloudamqp/amqp-client";

/** The kind of queue the events are routed to. */
export type QueueType = "classic" | "quorum";

/**
 * Thrown when the broker connection was lost during a measured run (the
 * shared broker may close connections under us): the run is repeated.
 */
export class DisturbedRunError extends Error {
  override name = "DisturbedRunError";
}

const DISTURBANCE =
  /CONNECTION_FORCED|ECONNREFUSED|ECONNRESET|connection closed|connection lost|socket closed/i;

/** Whether `error` says the run was disturbed rather than wrong. */
export function isDisturbance(error: unknown): boolean {
  return error instanceof DisturbedRunError ||
    (error instanceof Error && DISTURBANCE.test(error.message));
}

/** Runs `fn` on a channel of a short-lived connection, so a forced close between runs is harmless. */
export async function onAdminChannel(
  url: string,
  fn: (channel: AMQPChannel) => Promise<void>,
): Promise<void> {
  const client = new AMQPClient(url);
  await client.connect();
  try {
    await fn(await client.channel());
  } finally {
    if (!client.closed) await client.close();
  }
}

/** A fresh durable queue bound (`#`) to a fresh durable topic exchange. */
export class Topology {
  readonly exchange = `bench.${crypto.randomUUID().slice(0, 8)}`;
  readonly queue = this.exchange;

  private constructor(readonly url: string, readonly queueType: QueueType) {}

  /** Declares the pair. */
  static async create(url: string, queueType: QueueType = "classic"): Promise<Topology> {
    const topology = new Topology(url, queueType);
    await onAdminChannel(url, async (channel) => {
      await channel.exchangeDeclare(topology.exchange, "topic", { durable: true });
      await channel.queueDeclare(
        topology.queue,
        { durable: true },
        queueType === "quorum" ? { "x-queue-type": "quorum" } : {},
      );
      await channel.queueBind(topology.queue, topology.exchange, "#");
    });
    return topology;
  }

  /** Deletes the queue, the exchange, and the dead-letter pair a publisher declared. */
  async delete(): Promise<void> {
    await onAdminChannel(this.url, async (channel) => {
      await channel.queueDelete(this.queue);
      await channel.exchangeDelete(this.exchange);
      await channel.queueDelete(`${this.exchange}.dead-letter`);
      await channel.exchangeDelete(`${this.exchange}.dead-letter`);
    });
  }
}

/** Runs `fn` with a fresh topology, deleted afterwards (twice tried: the admin connection may be forced closed). */
export async function withTopology<T>(
  url: string,
  queueType: QueueType,
  fn: (topology: Topology) => Promise<T>,
): Promise<T> {
  const topology = await Topology.create(url, queueType);
  try {
    return await fn(topology);
  } finally {
    await topology.delete().catch(() => topology.delete());
  }
}

/**
 * Waits for the disk and the broker to settle after a run: the KV rows leave
 * dirty pages whose write-back would otherwise slow the broker's fsyncs in
 * the next row (the old bench always ran its raw-client row right after the
 * KV heap scenario, which is one reason it under-measured the client).
 */
export async function settle(pauseMs = 250): Promise<void> {
  try {
    await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output();
  } catch {
    // No sync(1) here: the pause alone has to do.
  }
  await new Promise((resolve) => setTimeout(resolve, pauseMs));
}
