// A publishing child process (./_failover_child.ts) as the failover test
// drives it: what it accepted, its samples and its log; SIGKILL or SIGTERM.

import { uniqueName } from "../_broker.ts";
import type { Sample } from "./_observe.ts";

async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let partial = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    lines.forEach(onLine);
  }
}

/** A publishing child process (./_failover_child.ts) and what it printed. */
export class Child {
  readonly accepted: string[] = [];
  readonly samples: Sample[] = [];
  readonly log: string[] = [];
  closed?: { remaining: number };
  readonly #process: Deno.ChildProcess;
  readonly #reading: Promise<void>;

  constructor(path: string, urls: string[], exchange: string, prefix: string) {
    this.#process = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_failover_child.ts", import.meta.url).pathname,
        path,
        urls.join(","),
        exchange,
        prefix,
        uniqueName("child"),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#reading = Promise.all([
      readLines(this.#process.stdout, (line) => {
        const space = line.indexOf(" ");
        const [kind, rest] = [line.slice(0, space), line.slice(space + 1)];
        if (kind === "id") this.accepted.push(rest);
        else if (kind === "stats") this.samples.push(JSON.parse(rest));
        else if (kind === "closed") this.closed = JSON.parse(rest);
      }),
      readLines(this.#process.stderr, (line) => this.log.push(line)),
    ]).then(() => {});
  }

  get last(): Sample | undefined {
    return this.samples.at(-1);
  }

  /** SIGKILL: a crash. */
  async kill(): Promise<void> {
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // It has ended already.
    }
    await this.#process.status;
    await this.#reading;
  }

  /** SIGTERM: the child closes its publisher (delivering what is pending) and exits. */
  async stop(): Promise<void> {
    this.#process.kill("SIGTERM");
    await this.#process.status;
    await this.#reading;
  }
}
