// How the KV store encodes records: the size check against Deno KV's value
// limit, the body as UTF-8 bytes, and a dead letter cut to fit one value.

import {
  fitDeadLetter,
  fromDisk,
  type OnDisk,
  recordSize,
  toDisk,
} from "../../../src/store/kv/_codec.ts";
import type { PendingRecord } from "../../../src/store/store.ts";
import { assert, assertEquals, assertRejects, event, open, withDir } from "./_helpers.ts";

Deno.test("KvStore refuses a record too big for a Deno KV value, naming the event", async () => {
  await withDir(async (dir) => {
    const store = await open(dir);
    try {
      const huge = { ...event("huge"), body: "€".repeat(40_000), bytes: 120_000 };
      const error = await assertRejects(() => store.add([event("ok"), huge]), RangeError);
      assert(error.message.includes('"huge"'));
      assertEquals(store.stats().size, 0);
    } finally {
      await store.close();
    }
  });
});

Deno.test("the KV codec stores a body as UTF-8 bytes and reads it back unchanged", () => {
  const record = { ...event("euro"), body: "price: 5 € " + "x".repeat(1_000) } as PendingRecord;
  const stored = toDisk(record) as OnDisk<PendingRecord>;
  assert(stored.body instanceof Uint8Array);
  assertEquals(stored.body.length, new TextEncoder().encode(record.body).length);
  assertEquals(fromDisk(stored).body, record.body);
});

Deno.test("the KV codec stores an ASCII body as it is, and reads back both layouts", () => {
  const body = JSON.stringify({ note: "x".repeat(1_000) });
  const record = { ...event("ascii"), body, bytes: body.length } as PendingRecord;
  assert(toDisk(record) === record, "an ASCII record is stored as it is, not copied");
  assert(fromDisk(record as OnDisk<PendingRecord>) === record);
  // What earlier versions wrote: every body as UTF-8 bytes.
  const older = { ...record, body: new TextEncoder().encode(body) };
  assertEquals(fromDisk(older), record);
});

Deno.test("KvStore keeps ASCII, Latin-1 and other bodies as they were across a reopen", async () => {
  await withDir(async (dir) => {
    const bodies = ["plain", "café crème", "price: 5 € 😀", "x".repeat(50_000)];
    const added = bodies.map((body, i) => ({
      ...event(`b${i}`),
      body,
      bytes: new TextEncoder().encode(body).length,
    }));
    const first = await open(dir);
    try {
      await first.add(added);
    } finally {
      await first.close();
    }
    const again = await open(dir);
    try {
      const taken = await again.take(10, Date.now());
      assertEquals(taken.map((r) => r.body), bodies);
      assertEquals(again.stats().bytes, added.reduce((n, r) => n + r.bytes, 0));
    } finally {
      await again.close();
    }
  });
});

Deno.test("fitDeadLetter() gives up the error text first to fit one Deno KV value", () => {
  const record = { ...event("big"), body: "x".repeat(60_000), bytes: 60_000 };
  const letter = {
    ...record,
    seq: 1,
    attempts: 3,
    nextAttemptAt: 0,
    lastError: "e".repeat(4_000),
    reason: "max-retries" as const,
    deadLetteredAt: 0,
    errorName: "TransportError",
    errorMessage: "m".repeat(1_000),
  };
  const fitted = fitDeadLetter(letter);
  assertEquals([fitted.lastError, fitted.errorMessage?.length], [undefined, 200]);
  recordSize(fitted); // does not throw
  assertEquals(fitDeadLetter({ ...letter, body: "small", bytes: 5 }).lastError, letter.lastError);
});
