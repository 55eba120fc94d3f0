// The module on Node 20+: bundled with `deno bundle`, run with `node`, with
// persistence through @deno/kv, killed with SIGKILL mid-stream, restarted;
// a consumer on the real broker counts what arrived.

import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer } from "../_broker.ts";
import { bundleForNode, nodeDirectory, NodeProcess, nodeVersion } from "./_node.ts";

const KILL_AFTER = 300; // accepted events before the kill

Deno.test("on Node, a bundled publisher with persistence loses no accepted event across a kill -9", async () => {
  const { version, problem } = await nodeVersion();
  if (problem !== undefined) throw new Error(problem);
  const dir = await nodeDirectory();
  try {
    await bundleForNode("./smoke_app.ts", `${dir}/smoke_app.mjs`);
    await using consumer = await TestConsumer.start();
    const args = [BROKER_URL, consumer.exchange, `${dir}/data/events.kv`];

    const first = new NodeProcess(dir, "smoke_app.mjs", ["publish", ...args, "smoke"]);
    await first.waitFor(
      (lines) => lines.length >= KILL_AFTER,
      `${KILL_AFTER} events were accepted`,
    );
    const killed = await first.kill();
    assert.equal(killed.signal, "SIGKILL", killed.stderr);
    const accepted = first.lines.map((line) => line.split(" "));
    const statuses = new Set(accepted.map(([, , status]) => status));
    assert(statuses.has("confirmed"), `no high-priority event was confirmed: ${[...statuses]}`);

    // The normal events were never sent: they were on disk only.
    const early = new Set(consumer.messages.map((m) => m.properties.messageId));
    const queued = accepted.filter(([, , status]) => status === "queued").map(([, id]) => id);
    assert(queued.length >= KILL_AFTER / 2, `only ${queued.length} of the events were queued`);
    assert.deepEqual(queued.filter((id) => early.has(id)), []);

    await using second = new NodeProcess(dir, "smoke_app.mjs", ["drain", ...args]);
    await second.waitFor((lines) => lines.some((l) => l.startsWith("drained")), "it drained");
    const drained = await second.ended();
    assert.equal(drained.code, 0, drained.stderr);
    assert.deepEqual(second.lines.at(-1), "drained 0");

    const ids = accepted.map(([, id]) => id);
    const received = () => new Set(consumer.messages.map((m) => m.properties.messageId));
    await consumer.waitFor(ids.length);
    const missing = ids.filter((id) => !received().has(id));
    assert.deepEqual(missing, [], `node ${version}: ${missing.length} accepted events were lost`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
