/**
 * The references of the benchmark, what a user could pick instead of our
 * publisher, each publishing the same events with publisher confirms and
 * `mandatory`:
 *
 * - a plain loop on the raw `@cloudamqp/amqp-client` (the client we build on)
 *   with a bound on events in flight, a slot freed per confirm, and with all
 *   events in flight (the client's ceiling);
 * - amqp-connection-manager over amqplib, in this Deno process (through
 *   `npm:`) and in a Node child process (from `bench/peer/node_modules`).
 *
 * @module
 */

import { AMQPClient } from "@cloudamqp/amqp-client";
import { DisturbedRunError } from "./_broker.ts";
import { type Figures, isNodePeerInstalled, NODE_PEER } from "./_context.ts";
import { makeEvents, template } from "./_events.ts";
import { rate, startSpan } from "./_measure.ts";
import { benchProperties, publishWithPeer } from "./peer/peer.mjs";

/** What a reference run publishes. */
export interface ReferenceRun {
  url: string;
  exchange: string;
  tag: string;
  count: number;
  bytes: number;
}

/**
 * The 20-line loop a user would write on the raw client: JSON-encode each
 * event, publish it without awaiting, and wait for a free slot whenever
 * `bound` events await their confirms.
 */
export async function rawLoop(run: ReferenceRun, bound: number): Promise<Figures> {
  const events = makeEvents(run.tag, run.count, run.bytes);
  const client = new AMQPClient(run.url);
  await client.connect();
  try {
    const channel = await client.channel();
    await channel.confirmSelect();
    const end = startSpan();
    const done = Promise.withResolvers<void>();
    let inFlight = 0;
    let confirmed = 0;
    let freed: (() => void) | undefined;
    const onConfirm = () => {
      inFlight--;
      if (++confirmed === events.length) done.resolve();
      freed?.();
      freed = undefined;
    };
    for (const event of events) {
      while (inFlight >= bound) await new Promise<void>((resolve) => freed = resolve);
      inFlight++;
      channel.basicPublish(
        run.exchange,
        event.type,
        JSON.stringify(event),
        benchProperties(event),
        true,
      ).then(onConfirm, done.reject);
    }
    await done.promise;
    return rate(end(), run.count);
  } finally {
    if (!client.closed) await client.close();
  }
}

/** amqp-connection-manager + amqplib in this Deno process, all events in flight. */
export async function peerInDeno(run: ReferenceRun): Promise<Figures> {
  // amqplib can reject a promise of its own that nobody holds when its
  // connection drops (a missed heartbeat on a loaded machine): that would end
  // the whole bench, so during this row it is taken as a disturbed run.
  let orphan: unknown;
  const onUnhandled = (event: PromiseRejectionEvent) => {
    orphan ??= event.reason;
    event.preventDefault();
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    const span = await publishWithPeer({
      url: run.url,
      exchange: run.exchange,
      count: run.count,
      template: template(run.tag, run.bytes),
    });
    if (orphan !== undefined) throw new DisturbedRunError(`connection lost: ${orphan}`);
    return rate(span, run.count);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
}

/** amqp-connection-manager + amqplib in a Node child process, all events in flight. */
export async function peerInNode(run: ReferenceRun): Promise<Figures> {
  if (!await isNodePeerInstalled()) return { throughput: NaN, cpu: NaN };
  const options = {
    url: run.url,
    exchange: run.exchange,
    count: run.count,
    template: template(run.tag, run.bytes),
  };
  const output = await new Deno.Command("node", {
    args: [NODE_PEER, JSON.stringify(options)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (!output.success) throw new Error(`the Node peer failed: ${text.decode(output.stderr)}`);
  const span = JSON.parse(text.decode(output.stdout).trim().split("\n").at(-1)!);
  return rate(span, run.count);
}
