import { FlagError, formatUsage, parseFlags } from "../../config/flags.js";
import type { FlagSpec, ParsedFlags } from "../../config/flags.js";

/** Output streams of a command; tests capture them, the binary uses the process streams. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

/** Returns the process's standard output and error as a {@link CommandIo}. */
export function processIo(): CommandIo {
  return { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };
}

/** A failure to report as `Error: <message>` with exit code 1, without a stack trace. */
export class CliError extends Error {
  override readonly name = "CliError";
}

/** Default path of the admin API socket, as in spire-server. */
export const DEFAULT_SOCKET_PATH = "/tmp/spire-server/private/api.sock";

/** The `-socketPath` flag every admin command takes. */
export const SOCKET_PATH_FLAG: FlagSpec = {
  name: "socketPath",
  type: "string",
  usage: "Path to the tessera-server admin API socket",
  default: DEFAULT_SOCKET_PATH,
};

/**
 * Parses the flags of an admin command, prints usage for `-help`, runs `body`, and turns
 * any error into `Error: <message>` on standard error with exit code 1, as spire-server's
 * commands do.
 */
export async function runCommand(
  command: string,
  specs: readonly FlagSpec[],
  args: readonly string[],
  io: CommandIo,
  body: (flags: ParsedFlags) => Promise<void>,
): Promise<number> {
  try {
    const flags = parseCommandFlags(command, specs, args, io);
    if (flags === undefined) return 0;
    await body(flags);
    return 0;
  } catch (error) {
    io.err(`Error: ${(error as Error).message}\n`);
    return 1;
  }
}

/**
 * Parses a command's flags, rejecting positional arguments. Returns undefined after
 * printing usage when `-help` was given. Throws FlagError naming the flag at fault.
 */
export function parseCommandFlags(
  command: string,
  specs: readonly FlagSpec[],
  args: readonly string[],
  io: CommandIo,
): ParsedFlags | undefined {
  const flags = parseFlags(args, specs, { command });
  if (flags.helpRequested) {
    io.out(formatUsage(command, specs));
    return undefined;
  }
  if (flags.rest.length > 0) {
    throw new FlagError(`unexpected argument ${JSON.stringify(flags.rest[0])}; run "${command} -help" to list the flags`);
  }
  return flags;
}

/** Returns a string flag's value ("" when unset without a default). */
export function stringFlag(flags: ParsedFlags, name: string): string {
  return (flags.values[name] as string | undefined) ?? "";
}

/** Returns a repeatable string flag's values. */
export function stringListFlag(flags: ParsedFlags, name: string): string[] {
  return (flags.values[name] as string[] | undefined) ?? [];
}
