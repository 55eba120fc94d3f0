/**
 * Runs every example in turn, each under a heading: `deno task demo`.
 *
 * Needs a RabbitMQ broker (`RABBITMQ_URL`, default amqp://guest:guest@localhost:5672).
 * Takes about 5 seconds.
 *
 * @module
 */

import { main as basic } from "./basic.ts";
import { main as container } from "./container.ts";
import { main as deadLetters } from "./dead_letters.ts";
import { main as monitoring } from "./monitoring.ts";
import { main as outage } from "./outage.ts";
import { type ExampleOptions, runExample } from "./_common.ts";

const EXAMPLES: readonly [string, (options?: ExampleOptions) => Promise<void>][] = [
  ["basic.ts: publish, publishBatch, flush, stats, close", basic],
  ["container.ts: the publisher in a dependency container", container],
  ["monitoring.ts: stats, health and buffer utilization", monitoring],
  ["outage.ts: buffering through a broker outage, then draining", outage],
  ["dead_letters.ts: an unroutable event becomes a dead letter, then is replayed", deadLetters],
];

/** Runs the examples in order, each on its own exchange; `url` and `log` are passed to each. */
export async function main(options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  for (const [title, run] of EXAMPLES) {
    log("");
    log(`=== ${title} ===`);
    await run({ url: options.url, log });
  }
  log("");
  log("All examples ran.");
}

if (import.meta.main) await runExample(main);
