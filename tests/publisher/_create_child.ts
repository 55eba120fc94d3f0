// A program for create_test.ts: creates two publishers on a fake transport,
// the way an application would, and prints as JSON what they were configured
// with and what they logged at debug level. It is run with and without
// --allow-env, so it needs no other permission.
//
//   deno run [--allow-env] tests/publisher/_create_child.ts [process|off]

import { createRabbitMQAsyncEventPublisher } from "../../mod.ts";
import { FakeTransport } from "../_fake_transport.ts";

const mode = Deno.args[0] ?? "process";
const debug: string[] = [];
const logger = { debug: (line: string) => debug.push(line), info() {}, warn() {}, error() {} };
const seen: { maxSize: number; exchange?: string }[] = [];
for (let i = 0; i < 2; i++) {
  const transport = new FakeTransport();
  const publisher = await createRabbitMQAsyncEventPublisher({}, {}, {
    transport,
    logger,
    env: mode === "off" ? false : undefined,
  });
  await publisher.publish({ id: `e${i}`, type: "t", data: {}, metadata: { priority: "high" } });
  seen.push({
    maxSize: publisher.getEventBuffer().getStats().maxSize,
    exchange: transport.sends[0]?.exchange,
  });
  await publisher.close();
}
console.log(JSON.stringify({ seen, debug }));
