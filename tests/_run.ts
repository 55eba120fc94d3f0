// Running a command for its output, in tests.

const decoder = new TextDecoder();

/** The output of a command (stdout then stderr, trimmed), and whether it succeeded. */
export interface Run {
  ok: boolean;
  output: string;
}

/** Runs `command` with `args` and no stdin; never rejects. */
export async function run(command: string, args: string[]): Promise<Run> {
  try {
    const { success, stdout, stderr } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { ok: success, output: (decoder.decode(stdout) + decoder.decode(stderr)).trim() };
  } catch (error) {
    return { ok: false, output: String(error) };
  }
}
