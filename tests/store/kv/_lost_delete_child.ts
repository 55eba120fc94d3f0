// A child process for the lost-delete test: stores two events, takes both,
// removes the first (confirmed), and is killed with SIGKILL right after.
// Usage: deno run -A _lost_delete_child.ts <store path> <"at-once" | "after-a-commit">
// - at-once: killed in the tick of remove(), before its delete is committed;
// - after-a-commit: an add() is awaited first, whose group commit takes the delete along.

import { KvStore } from "../../../src/store/kv/kv_store.ts";
import { event, ROOMY } from "./_helpers.ts";

const [path, mode] = Deno.args;
const store = await KvStore.open({ path, limits: ROOMY, memoryLimit: 100 });
await store.add([event("confirmed"), event("in-flight")]);
const [confirmed] = await store.take(2, Date.now());
const removed = store.remove([confirmed]);
if (mode === "after-a-commit") {
  await removed;
  await store.add([event("later")]);
}
// In the tick of remove() (at-once), the group commit has not begun yet.
Deno.kill(Deno.pid, "SIGKILL");
