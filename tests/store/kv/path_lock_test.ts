// Regression test: the in-process lock of a KV file holds whichever spelling
// of the path a second open uses.

import assert from "node:assert/strict";
import { KvStore } from "../../../mod.ts";
import { withDir } from "../../_pipeline.ts";

// ---------------------------------------------------------------------------
// 5. The in-process lock compares path strings: the same file through another
//    spelling of its path is opened twice in one process, each thinking it
//    owns the lease.
// ---------------------------------------------------------------------------

Deno.test("KvStore refuses a second open in one process through another spelling of the path", async () => {
  await withDir(async (dir) => {
    const limits = { maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" as const };
    const first = await KvStore.open({ path: `${dir}/events.kv`, limits, memoryLimit: 10 });
    let second: KvStore | undefined;
    try {
      second = await KvStore.open({ path: `${dir}/./events.kv`, limits, memoryLimit: 10 }).catch(
        () => undefined,
      );
      assert.equal(
        second,
        undefined,
        "the second open took over a live lease of this very process",
      );
    } finally {
      await second?.close();
      await first.close();
    }
  });
});
