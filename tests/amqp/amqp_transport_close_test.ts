// Regression test: closing the transport while it is still connecting leaves
// no AMQP connection open on the broker.

import assert from "node:assert/strict";
import { AmqpTransport } from "../../mod.ts";
import { sleep } from "../_wait.ts";

/**
 * Established TCP connections from this process to the broker's port, as the
 * system lists them: other processes on the machine (parallel test runs) do
 * not count.
 */
async function brokerConnections(): Promise<number> {
  const { stdout } = await new Deno.Command("ss", {
    args: ["-Htnp", "state", "established", "( dport = :5672 )"],
    stdout: "piped",
  }).output();
  const mine = `pid=${Deno.pid},`;
  return new TextDecoder().decode(stdout).split("\n").filter((line) => line.includes(mine)).length;
}

Deno.test("AmqpTransport.close() during a connection attempt leaves no connection open", async () => {
  const before = await brokerConnections();
  const transport = new AmqpTransport({
    urls: ["amqp://guest:guest@127.0.0.1:5672"],
    exchange: "review.leak",
  });
  const states: string[] = [];
  transport.onStateChange((c) => states.push(c.to));
  const started = transport.start(); // connecting now
  await transport.close(); // while the attempt is in flight
  const connected = await started;
  await sleep(500);
  const after = await brokerConnections();
  // Connections of earlier tests in this process may still be closing, never opening.
  assert.ok(
    after <= before,
    `close() resolved, yet ${
      after - before
    } AMQP connection(s) stay open; start() resolved ${connected}; ` +
      `states: ${states.join(" -> ")}`,
  );
});
