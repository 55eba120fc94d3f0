import assert from "node:assert/strict";
import { NodeOrder } from "../../src/amqp/_node_order.ts";

Deno.test("NodeOrder's first round goes round-robin from its start", () => {
  assert.deepEqual(new NodeOrder(3, 1).round(), [1, 2, 0]);
  assert.deepEqual(new NodeOrder(3, 5).round(), [2, 0, 1]);
  assert.deepEqual(new NodeOrder(1).round(), [0]);
});

Deno.test("NodeOrder starts at a random node, so publishers given one list spread over it", () => {
  const starts = new Set<number>();
  for (let i = 0; i < 200; i++) starts.add(new NodeOrder(3).round()[0]);
  assert.deepEqual([...starts].sort(), [0, 1, 2]);
});

Deno.test("NodeOrder tries the node after a lost one first, and the lost one last", () => {
  const order = new NodeOrder(3, 0);
  order.connected(0);
  order.lost(0);
  assert.deepEqual(order.round(), [1, 2, 0]);
  order.connected(1);
  order.lost(1);
  assert.deepEqual(order.round(), [2, 0, 1]);
});

Deno.test("NodeOrder tries nodes whose last attempt failed after those that did not", () => {
  const order = new NodeOrder(4, 0);
  order.failed(0);
  order.failed(2);
  assert.deepEqual(order.round(), [1, 3, 0, 2]);
  order.connected(2);
  assert.deepEqual(order.round(), [1, 2, 3, 0]);
});

Deno.test("NodeOrder refuses a count that is not a positive integer", () => {
  assert.throws(() => new NodeOrder(0), /'count' must be a positive integer: got 0/);
});
