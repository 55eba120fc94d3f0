// A small tmpfs of its own for a test, to fill a disk or make it read-only
// for real. Mounting needs root on Linux: tests that use it are ignored
// elsewhere (`CAN_MOUNT`).

/** Whether this process may mount a tmpfs (root on Linux). */
export const CAN_MOUNT = Deno.build.os === "linux" && Deno.uid() === 0;

async function run(...args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(args[0], { args: args.slice(1) }).output();
  if (code !== 0) {
    throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
}

/** A mounted tmpfs of `sizeKb`; unmounted and removed afterwards, whatever happens. */
export async function withTmpfs(sizeKb: number, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tmpfs_test_" });
  try {
    await run("mount", "-t", "tmpfs", "-o", `size=${sizeKb}k,mode=0755`, "tmpfs", dir);
    try {
      await fn(dir);
    } finally {
      // Lazy, so that a file a failed test left open cannot keep the mount.
      await run("umount", "-l", dir);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Remounts the tmpfs at `dir` read-only (`true`) or writable again. */
export async function setReadOnly(dir: string, readOnly: boolean): Promise<void> {
  await run("mount", "-o", `remount,${readOnly ? "ro" : "rw"}`, dir);
}
