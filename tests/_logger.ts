// A logger for tests that keeps every line with its level.

import type { Logger } from "../mod.ts";

/** One logged line. */
export interface LoggedLine {
  level: "debug" | "info" | "warn" | "error";
  text: string;
}

/** A logger that keeps every line, in order, and the lines of one level on demand. */
export function recordingLogger(): Logger & {
  lines: LoggedLine[];
  at(level: LoggedLine["level"]): string[];
} {
  const lines: LoggedLine[] = [];
  const keep = (level: LoggedLine["level"]) => (...args: unknown[]) =>
    lines.push({ level, text: args.map(String).join(" ") });
  return {
    lines,
    at: (level) => lines.filter((line) => line.level === level).map((line) => line.text),
    debug: keep("debug"),
    info: keep("info"),
    warn: keep("warn"),
    error: keep("error"),
  };
}

/** The warnings and errors a recording logger kept, as `"warn: ..."` and `"error: ..."` lines. */
export function problemLines(logger: { lines: readonly LoggedLine[] }): string[] {
  return logger.lines
    .filter(({ level }) => level === "warn" || level === "error")
    .map(({ level, text }) => `${level}: ${text}`);
}
