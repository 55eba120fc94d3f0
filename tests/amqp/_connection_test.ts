import assert from "node:assert/strict";
import { connectLoop, reconnectDelay } from "../../src/amqp/_connection.ts";
import { NodeOrder } from "../../src/amqp/_node_order.ts";

const urls = ["amqp://a:pw@one", "amqp://a:pw@two", "amqp://a:pw@three"];

/** Opens only the URLs in `good`; records every attempt. */
function opener(good: ReadonlySet<string>, tried: string[]) {
  return (url: string) => {
    tried.push(url);
    return good.has(url) ? Promise.resolve(url) : Promise.reject(new Error(`refused by ${url}`));
  };
}

Deno.test("connectLoop() tries the URLs in the order's round and returns the first that connects", async () => {
  const tried: string[] = [];
  const failures: string[] = [];
  const connected = await connectLoop(
    urls,
    new NodeOrder(3, 1),
    opener(new Set([urls[0]]), tried),
    {
      onFailure: (url, error) => failures.push(`${url}: ${error.message}`),
      onRoundFailed: () => Promise.resolve(true),
    },
  );
  assert.deepEqual(connected, { value: urls[0], index: 0 });
  assert.deepEqual(tried, [urls[1], urls[2], urls[0]]);
  assert.deepEqual(failures, [
    "amqp://a:***@two: refused by amqp://a:***@two",
    "amqp://a:***@three: refused by amqp://a:***@three",
  ]);
});

Deno.test("connectLoop() asks onRoundFailed after each failed round and stops when it says no", async () => {
  const tried: string[] = [];
  let rounds = 0;
  const connected = await connectLoop(urls, new NodeOrder(3, 0), opener(new Set(), tried), {
    onFailure: () => {},
    onRoundFailed: () => Promise.resolve(++rounds < 2),
  });
  assert.equal(connected, undefined);
  assert.equal(rounds, 2);
  assert.deepEqual(tried, [...urls, ...urls]);
});

Deno.test("connectLoop() ends a round early when endsRound says so, and passes onRoundFailed that error", async () => {
  const tried: string[] = [];
  const seen: string[] = [];
  const connected = await connectLoop(urls, new NodeOrder(3, 0), opener(new Set(), tried), {
    onFailure: () => {},
    endsRound: (error) => error.message.includes("one"),
    onRoundFailed: (error) => {
      seen.push(error.message);
      return Promise.resolve(seen.length < 2);
    },
  });
  assert.equal(connected, undefined);
  // The second round starts with the nodes that did not fail: two, three, then one.
  assert.deepEqual(tried, [urls[0], urls[1], urls[2], urls[0]]);
  assert.deepEqual(seen, ["refused by amqp://a:***@one", "refused by amqp://a:***@one"]);
});

Deno.test("connectLoop() rejects with what onRoundFailed rejects with", async () => {
  await assert.rejects(
    connectLoop(urls, new NodeOrder(3, 0), opener(new Set(), []), {
      onFailure: () => {},
      onRoundFailed: () => Promise.reject(new Error("no RabbitMQ broker answered")),
    }),
    /no RabbitMQ broker answered/,
  );
});

Deno.test("connectLoop() stops after an attempt under way when the signal aborts", async () => {
  const stop = new AbortController();
  const failures: string[] = [];
  const connected = await connectLoop(urls, new NodeOrder(3, 0), (url) => {
    stop.abort();
    return Promise.reject(new Error(`refused by ${url}`));
  }, {
    signal: stop.signal,
    onFailure: (url) => failures.push(url),
    onRoundFailed: () => Promise.resolve(true),
  });
  assert.equal(connected, undefined);
  assert.deepEqual(failures, [], "a failure caused by stopping is not reported");
});

Deno.test("reconnectDelay() grows per failed round, stays within [ceiling/2, ceiling] and caps at maxDelay", () => {
  for (let i = 0; i < 50; i++) {
    const first = reconnectDelay(3, 3, 500, 30_000);
    assert.ok(first >= 250 && first <= 500, `round 1: ${first}`);
    const third = reconnectDelay(9, 3, 500, 30_000);
    assert.ok(third >= 1_000 && third <= 2_000, `round 3: ${third}`);
    const late = reconnectDelay(3_000, 3, 500, 30_000);
    assert.ok(late >= 15_000 && late <= 30_000, `round 1000: ${late}`);
  }
});
