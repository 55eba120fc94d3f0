// Command-line flags of the bench's smaller tools (paired.ts, profile.ts, trace.ts).

/**
 * Takes `name` and the positive integer after it out of `args`.
 *
 * @returns The integer, or `undefined` when the flag is absent.
 * @throws {RangeError} When the value is not a positive integer; the error names the flag.
 */
export function takePositiveFlag(args: string[], name: string): number | undefined {
  const value = takeFlag(args, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`'${name}' must be a positive integer: got ${value}`);
  }
  return n;
}

/** Takes `name` and the value after it out of `args`; `undefined` when the flag is absent. */
export function takeFlag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args.splice(i, 2)[1];
}

/** Takes the switch `name` out of `args`; whether it was there. */
export function takeSwitch(args: string[], name: string): boolean {
  const i = args.indexOf(name);
  if (i === -1) return false;
  args.splice(i, 1);
  return true;
}
