// PendingIndex: the order take() hands records out in (most urgent first,
// arrival order within a priority), records waiting out a backoff skipped
// until due, released records back in their place, and deleted records
// never handed out however long the window slides.

import assert from "node:assert/strict";
import { PendingIndex } from "../../src/store/_pending_index.ts";
import type { PendingRecord } from "../../src/store/store.ts";
import type { EventPriority } from "../../src/event.ts";
import { event } from "./kv/_helpers.ts";

let nextSeq = 1;
function record(id: string, priority: EventPriority = "normal", at = 0): PendingRecord {
  return { ...event(id, priority, at), seq: nextSeq++, attempts: 0, nextAttemptAt: at };
}

const ids = (records: readonly PendingRecord[]) => records.map((r) => r.id);

Deno.test("PendingIndex.take() hands out the most urgent first, in arrival order", () => {
  const index = new PendingIndex();
  for (const r of [record("n1"), record("l1", "low"), record("h1", "high"), record("n2")]) {
    index.insert(r);
  }
  assert.deepEqual(ids(index.take(3, 0)), ["h1", "n1", "n2"]);
  assert.deepEqual(ids(index.take(3, 0)), ["l1"]);
  assert.deepEqual(index.take(3, 0), [], "all in flight");
  assert.equal(index.inFlight, 4);
});

Deno.test("PendingIndex: a released record goes back in its place, a backoff is waited out", () => {
  const index = new PendingIndex();
  const [a, b, c] = [record("a"), record("b"), record("c")];
  for (const r of [a, b, c]) index.insert(r);
  const [first] = index.take(1, 0);
  assert.equal(first.id, "a");
  index.release(first);
  assert.deepEqual(ids(index.take(1, 0)), ["a"], "released: before b and c again");
  index.release({ ...a, attempts: 1, nextAttemptAt: 100 });
  assert.deepEqual(ids(index.take(5, 50)), ["b", "c"], "a waits out its backoff");
  assert.equal(index.nextReadyAt(), 100);
  assert.deepEqual(ids(index.take(5, 99)), []);
  const [again] = index.take(5, 100);
  assert.equal(again.id, "a");
  assert.equal(again.attempts, 1, "the release's changes are kept");
  assert.equal(index.nextReadyAt(), undefined, "all in flight");
});

Deno.test("PendingIndex: deleted records are never handed out, over a long sliding window", () => {
  const index = new PendingIndex();
  // A window of 500 sliding over 20,000 records, some deleted while pending.
  for (let i = 0; i < 20_000; i++) {
    const r = record(`e${i}`);
    index.insert(r);
    if (i % 7 === 3) assert.equal(index.delete(r), true);
    if (index.inFlight < 500) {
      for (const taken of index.take(500 - index.inFlight, 0)) {
        assert.ok(index.has(taken), `${taken.id} was deleted`);
        if (taken.attempts === 0 && Number(taken.id.slice(1)) % 11 === 0) {
          index.release({ ...taken, attempts: 1 });
        } else index.delete(taken);
      }
    }
    assert.ok(index.nextReadyAt() === undefined || index.nextReadyAt() === 0);
  }
  const waiting = index.size - index.inFlight;
  const rest = index.take(100_000, 0);
  assert.equal(rest.length, waiting, "every record held and not in flight comes out");
  const seqs = rest.map((r) => r.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), "in arrival order");
  assert.equal(index.inFlight, index.size, "everything held is in flight now");
  for (const r of rest) index.delete(r);
  assert.equal(index.size, 0);
  assert.equal(index.bytes, 0);
});
