import assert from "node:assert/strict";
import { localDeadLetter } from "../_dead_letters.ts";
import { EvictionLog, logDeadLetters } from "../../src/publisher/_dead_letter_log.ts";
import { recordingLogger } from "../_logger.ts";

Deno.test("logDeadLetters() writes one line per reason and error, naming a few ids", () => {
  const logger = recordingLogger();
  const unroutable = Array.from(
    { length: 8 },
    (_, i) => localDeadLetter(i + 1, "x", { reason: "unroutable", errorMessage: "no queue bound" }),
  );
  const expired = localDeadLetter(20, "x", { reason: "expired", errorMessage: undefined });
  logDeadLetters(logger, [...unroutable, expired]);
  const ids = unroutable.map((l) => l.id);
  assert.deepEqual(logger.at("warn"), [
    `8 events (${
      ids.slice(0, 5).join(", ")
    } and 3 more) dead-lettered: unroutable (no queue bound)`,
    `event ${expired.id} (test.happened) dead-lettered: expired`,
  ]);
});

Deno.test("EvictionLog sums a burst up in one line when its window ends, or at flush()", async () => {
  const logger = recordingLogger();
  const log = new EvictionLog(logger, "drop-oldest-lowest-priority", Date.now, 50);
  log.add([localDeadLetter(1, "x", { priority: "low" })]);
  log.add([localDeadLetter(2, "x", { priority: "low" }), localDeadLetter(3, "x")]);
  assert.deepEqual(logger.at("warn"), []);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(logger.at("warn").length, 1);
  assert.match(
    logger.at("warn")[0],
    /^buffer full: evicted 3 events to the dead letters in 0\.\d s \(overflow policy drop-oldest-lowest-priority; normal 1, low 2\)$/,
  );
  log.add([localDeadLetter(4, "x", { priority: "high" })]);
  log.flush();
  log.flush();
  assert.equal(logger.at("warn").length, 2);
  assert.match(logger.at("warn")[1], /evicted 1 event to .*; high 1\)$/);
});
