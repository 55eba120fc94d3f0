import assert from "node:assert/strict";
import { Exclusive, withResolvers } from "../src/_async.ts";

Deno.test("Exclusive.run() starts each job after the one before it has settled, in call order", async () => {
  const exclusive = new Exclusive();
  const log: string[] = [];
  const job = (name: string, fail = false) => async () => {
    log.push(`start ${name}`);
    await Promise.resolve();
    log.push(`end ${name}`);
    if (fail) throw new Error(name);
    return name;
  };
  const results = await Promise.allSettled([
    exclusive.run(job("a")),
    exclusive.run(job("b", true)),
    exclusive.run(job("c")),
  ]);
  assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
});

Deno.test("Exclusive.settled() waits for every queued job and never rejects", async () => {
  const exclusive = new Exclusive();
  let done = false;
  exclusive.run(() => Promise.reject(new Error("first"))).catch(() => {});
  exclusive.run(async () => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    done = true;
  });
  await exclusive.settled();
  assert.equal(done, true);
});

Deno.test("withResolvers() hands out a promise with the functions that settle it", async () => {
  const fulfilled = withResolvers<number>();
  fulfilled.resolve(7);
  assert.equal(await fulfilled.promise, 7);
  const rejected = withResolvers<number>();
  rejected.reject(new RangeError("no"));
  await assert.rejects(rejected.promise, RangeError);
});
