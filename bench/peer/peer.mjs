// The peer reference: amqp-connection-manager over amqplib, the pair a Node
// user would pick, publishing the bench's events with publisher confirms,
// all in flight (the library queues them and writes until the socket pushes
// back). Plain JavaScript, so the same file runs in Deno (through the
// `amqp-connection-manager` entry of deno.json's imports) and in Node (from
// bench/peer/node_modules, installed by `npm ci` in `deno task bench`).
//
// In Node: node bench/peer/peer.mjs '<PeerOptions as JSON>' prints a PeerResult as JSON.

import process from "node:process";
import { Buffer } from "node:buffer";
import { pathToFileURL } from "node:url";
import amqp from "amqp-connection-manager";

/**
 * @typedef {object} EventTemplate
 * @property {string} tag Prefix of every id: `<tag>-<n>`.
 * @property {string} padding `data.note`.
 * @property {"high" | "normal" | "low"} priority The events' priority.
 */

/**
 * @typedef {object} PeerOptions
 * @property {string} url The broker.
 * @property {string} exchange A durable topic exchange that exists.
 * @property {number} count Events to publish.
 * @property {EventTemplate} template What the events look like.
 */

/**
 * @typedef {object} PeerResult
 * @property {number} seconds From the first publish to the last confirm.
 * @property {number} cpuMicros CPU time (user + system) of this process meanwhile, in µs.
 */

const AMQP_PRIORITY = { high: 9, normal: 5, low: 1 };

/**
 * The `n`th event of a template: the shape every row of the bench publishes.
 *
 * @param {EventTemplate} template
 * @param {number} n
 */
export function benchEvent(template, n) {
  return {
    id: `${template.tag}-${n}`,
    type: "bench.happened",
    version: "1.0",
    timestamp: new Date(),
    data: { n, note: template.padding },
    metadata: { source: "bench", priority: template.priority, correlationId: `c-${n}` },
  };
}

/**
 * The AMQP properties our publisher gives the `n`th event, for the references.
 *
 * @param {ReturnType<typeof benchEvent>} event
 */
export function benchProperties(event) {
  return {
    contentType: "application/json",
    deliveryMode: 2,
    messageId: event.id,
    type: event.type,
    timestamp: event.timestamp,
    correlationId: event.metadata.correlationId,
    priority: AMQP_PRIORITY[event.metadata.priority],
    headers: {
      "event-version": event.version,
      "event-priority": event.metadata.priority,
      "event-source": event.metadata.source,
    },
  };
}

/**
 * Publishes `count` events through amqp-connection-manager with confirms and
 * `mandatory`, as a user of that library would, and times it.
 *
 * @param {PeerOptions} options
 * @returns {Promise<PeerResult>}
 */
export async function publishWithPeer({ url, exchange, count, template }) {
  const events = Array.from({ length: count }, (_, n) => benchEvent(template, n));
  // Our publisher's heartbeat (30 s) rather than the library's 5 s: on a
  // loaded machine two missed 5 s beats close the connection mid-run.
  const connection = amqp.connect([url], { heartbeatIntervalInSeconds: 30 });
  const channel = connection.createChannel({ confirm: true, json: false });
  // The library reconnects and publishes again after a loss: a run it
  // survived that way was disturbed, and is repeated by the bench.
  let lost;
  connection.on("disconnect", ({ err }) => lost ??= err);
  channel.on("error", (err) => lost ??= err);
  try {
    await channel.waitForConnect();
    const cpu = process.cpuUsage();
    const started = performance.now();
    const confirms = events.map((event) => {
      const p = benchProperties(event);
      return channel.publish(exchange, event.type, Buffer.from(JSON.stringify(event)), {
        contentType: p.contentType,
        persistent: true,
        messageId: p.messageId,
        type: p.type,
        timestamp: Math.floor(p.timestamp.getTime() / 1000),
        correlationId: p.correlationId,
        priority: p.priority,
        headers: p.headers,
        mandatory: true,
      });
    });
    await Promise.all(confirms);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    if (lost !== undefined) throw new Error(`connection lost: ${lost?.message ?? lost}`);
    return { seconds, cpuMicros: used.user + used.system };
  } finally {
    await channel.close();
    await connection.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await publishWithPeer(JSON.parse(process.argv[2]));
  console.log(JSON.stringify(result));
}
