/**
 * The logger the publisher writes to: any object with console's four methods.
 *
 * @module
 */

/**
 * A `Console`-shaped logger. Pass `console` for everything, or your own adapter.
 *
 * @example
 * ```ts
 * import type { Logger } from "@simplycaster/rabbitmq-publisher";
 *
 * const lines: string[] = [];
 * const logger: Logger = {
 *   debug: () => {},
 *   info: (...args: unknown[]) => lines.push(`INFO ${args.join(" ")}`),
 *   warn: (...args: unknown[]) => lines.push(`WARN ${args.join(" ")}`),
 *   error: (...args: unknown[]) => lines.push(`ERROR ${args.join(" ")}`),
 * };
 * logger.warn("broker unreachable");
 * console.log(lines); // ["WARN broker unreachable"]
 * ```
 */
export type Logger = Pick<Console, "debug" | "info" | "warn" | "error">;

/**
 * The default logger: warnings and errors go to the console, debug and info
 * are dropped.
 *
 * @example
 * ```ts
 * import { quietLogger } from "@simplycaster/rabbitmq-publisher";
 *
 * quietLogger.info("not printed");
 * ```
 */
export const quietLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (...args: unknown[]) => console.warn(...args),
  error: (...args: unknown[]) => console.error(...args),
};
