/**
 * Command-line flags in the style of Go's `flag` package, which spire-agent and
 * spire-server use:
 *
 * - `-name value`, `-name=value`, `--name value` and `--name=value`;
 * - bool flags take no separate value: `-flag` sets true and `-flag=false` sets false
 *   (`-flag false` leaves `false` as the first positional argument, as in Go);
 * - parsing stops at the first argument that is not a flag, at a lone `-`, or after `--`;
 * - a flag given twice keeps the last value unless its spec is `repeatable`;
 * - `-h`, `-help` and `--help` request usage when no flag of that name is defined.
 */

/** Value types a flag can have. Durations are returned in milliseconds. */
export type FlagType = "string" | "bool" | "int" | "duration";

/** A decoded flag value. */
export type FlagValue = string | boolean | number;

/** One flag's definition. */
export interface FlagSpec {
  /** Name without dashes, e.g. `socketPath`. */
  name: string;
  type: FlagType;
  /** Help text naming what the flag sets and its unit, e.g. "Time to wait for a response (duration, e.g. 5s)". */
  usage: string;
  /** Value when the flag is not given; durations in milliseconds. Repeatable flags default to []. */
  default?: FlagValue;
  /** Collect every occurrence into a list, e.g. `-selector a -selector b`. */
  repeatable?: boolean;
}

/** Result of {@link parseFlags}. */
export interface ParsedFlags {
  /** Every flag with a value or default; repeatable flags map to a list. */
  values: Record<string, FlagValue | FlagValue[]>;
  /** Names of the flags given on the command line, so settings from a file can yield to them. */
  provided: Set<string>;
  /** Arguments after the flags. */
  rest: string[];
  /** True when `-h`, `-help` or `--help` was given: print {@link formatUsage} and exit. */
  helpRequested: boolean;
}

/** Raised for an unknown flag, a missing value or an invalid value. */
export class FlagError extends Error {
  override readonly name = "FlagError";
}

/** Options for {@link parseFlags}. */
export interface ParseFlagsOptions {
  /** Command name for the `-help` hint in error messages, e.g. `tessera-agent run`. */
  command?: string;
}

/**
 * Parses `args` (without the program name and subcommand) against `specs`. Throws
 * {@link FlagError} naming the flag for an unknown flag, a missing value or a value that
 * does not parse as the flag's type.
 */
export function parseFlags(args: readonly string[], specs: readonly FlagSpec[], options: ParseFlagsOptions = {}): ParsedFlags {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const values = defaultValues(specs);
  const provided = new Set<string>();
  const helpHint = options.command === undefined ? "run with -help" : `run "${options.command} -help"`;
  let helpRequested = false;
  let index = 0;

  while (index < args.length) {
    const arg = args[index] as string;
    if (arg === "--") {
      index++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      break;
    }
    index++;

    const { name, inlineValue } = splitFlag(arg);
    const spec = byName.get(name);

    if (spec === undefined) {
      if (name === "h" || name === "help") {
        helpRequested = true;
        continue;
      }
      throw new FlagError(`unknown flag -${name}; ${helpHint} to list the flags`);
    }

    let text = inlineValue;
    if (text === undefined && spec.type !== "bool") {
      if (index >= args.length) {
        throw new FlagError(`flag -${name} needs a value (${spec.type})`);
      }
      text = args[index] as string;
      index++;
    }

    const value = text === undefined ? true : parseFlagValue(spec, text);
    if (spec.repeatable === true) {
      const list = provided.has(name) ? (values[name] as FlagValue[]) : [];
      list.push(value);
      values[name] = list;
    } else {
      values[name] = value;
    }
    provided.add(name);
  }

  return { values, provided, rest: args.slice(index), helpRequested };
}

/**
 * Builds the usage text printed for `-help`: the command, then each flag with its type,
 * help text and default, in the layout of Go's flag.PrintDefaults.
 */
export function formatUsage(command: string, specs: readonly FlagSpec[]): string {
  const lines = [`Usage of ${command}:`];
  // Byte order, as Go's flag.PrintDefaults sorts names.
  const sorted = [...specs].sort(compareNames);

  for (const spec of sorted) {
    const typeName = spec.type === "bool" ? "" : ` ${spec.type}`;
    const repeat = spec.repeatable === true ? " (repeatable)" : "";
    lines.push(`  -${spec.name}${typeName}${repeat}`);

    const shownDefault = describeDefault(spec);
    lines.push(`    \t${spec.usage}${shownDefault}`);
  }

  return `${lines.join("\n")}\n`;
}

/**
 * Parses a Go duration such as `300ms`, `-1.5h` or `2h45m` and returns milliseconds. Units
 * are `ns`, `us` (or `µs`, `μs`), `ms`, `s`, `m` and `h`; a bare `0` needs no unit. Results
 * below one millisecond are fractional. Throws {@link FlagError} for anything else, and for
 * values beyond Go's limit of about 292 years.
 */
export function parseDuration(text: string): number {
  const invalid = (): never => {
    throw new FlagError(`invalid duration ${JSON.stringify(text)}: expected a number with a unit (ns, us, ms, s, m, h), e.g. "1h30m" or "10s"`);
  };

  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }

  if (rest === "0") {
    return 0;
  }
  if (rest === "") {
    invalid();
  }

  let totalNanoseconds = 0n;
  while (rest !== "") {
    const match = /^([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    const whole = match?.[1] ?? "";
    const fraction = match?.[2] ?? "";
    if (match === null || (whole === "" && fraction === "")) {
      return invalid();
    }

    const unit = match[3] as keyof typeof NANOSECONDS_PER_UNIT;
    const scale = NANOSECONDS_PER_UNIT[unit];
    totalNanoseconds += BigInt(whole === "" ? "0" : whole) * scale;
    // The fractional part is scaled separately so `1.5h` stays exact.
    if (fraction !== "") {
      totalNanoseconds += (BigInt(fraction) * scale) / 10n ** BigInt(fraction.length);
    }
    if (totalNanoseconds > MAX_DURATION_NANOSECONDS) {
      throw new FlagError(`invalid duration ${JSON.stringify(text)}: longer than the maximum of about 292 years`);
    }
    rest = rest.slice(match[0].length);
  }

  const milliseconds = Number(totalNanoseconds) / 1_000_000;
  return milliseconds === 0 ? 0 : sign * milliseconds;
}

/**
 * Formats milliseconds as a Go duration string, e.g. 5_400_000 as `1h30m0s` and 1500 as
 * `1.5s`, so defaults print the way Go programs print them.
 */
export function formatDuration(milliseconds: number): string {
  if (milliseconds === 0) {
    return "0s";
  }

  const sign = milliseconds < 0 ? "-" : "";
  let nanoseconds = BigInt(Math.round(Math.abs(milliseconds) * 1_000_000));

  if (nanoseconds < 1_000_000_000n) {
    const [unit, scale] = nanoseconds < 1000n ? ["ns", 1n] : nanoseconds < 1_000_000n ? ["µs", 1000n] : ["ms", 1_000_000n];
    return `${sign}${formatDecimal(nanoseconds, scale as bigint)}${unit}`;
  }

  const hours = nanoseconds / 3_600_000_000_000n;
  nanoseconds -= hours * 3_600_000_000_000n;
  const minutes = nanoseconds / 60_000_000_000n;
  nanoseconds -= minutes * 60_000_000_000n;
  const seconds = formatDecimal(nanoseconds, 1_000_000_000n);

  if (hours > 0n) {
    return `${sign}${hours}h${minutes}m${seconds}s`;
  }
  if (minutes > 0n) {
    return `${sign}${minutes}m${seconds}s`;
  }
  return `${sign}${seconds}s`;
}

const NANOSECONDS_PER_UNIT = {
  ns: 1n,
  us: 1000n,
  "µs": 1000n,
  "μs": 1000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
} as const;

/** Go's time.Duration is an int64 count of nanoseconds. */
const MAX_DURATION_NANOSECONDS = 9_223_372_036_854_775_807n;

function formatDecimal(value: bigint, scale: bigint): string {
  const whole = value / scale;
  const fraction = value % scale;
  if (fraction === 0n) {
    return whole.toString();
  }
  const digits = scale.toString().length - 1;
  const fractionText = fraction.toString().padStart(digits, "0").replace(/0+$/, "");
  return `${whole}.${fractionText}`;
}

function compareNames(a: FlagSpec, b: FlagSpec): number {
  if (a.name === b.name) {
    return 0;
  }
  return a.name < b.name ? -1 : 1;
}

function defaultValues(specs: readonly FlagSpec[]): Record<string, FlagValue | FlagValue[]> {
  const values: Record<string, FlagValue | FlagValue[]> = {};
  for (const spec of specs) {
    if (spec.repeatable === true) {
      values[spec.name] = [];
    } else if (spec.default !== undefined) {
      values[spec.name] = spec.default;
    } else if (spec.type === "bool") {
      values[spec.name] = false;
    }
  }
  return values;
}

function splitFlag(arg: string): { name: string; inlineValue: string | undefined } {
  const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
  if (body === "" || body.startsWith("-") || body.startsWith("=")) {
    throw new FlagError(`bad flag syntax: ${arg}`);
  }

  const equals = body.indexOf("=");
  if (equals === -1) {
    return { name: body, inlineValue: undefined };
  }
  return { name: body.slice(0, equals), inlineValue: body.slice(equals + 1) };
}

function parseFlagValue(spec: FlagSpec, text: string): FlagValue {
  const invalid = (expected: string): never => {
    throw new FlagError(`invalid value ${JSON.stringify(text)} for flag -${spec.name}: expected ${expected}`);
  };

  switch (spec.type) {
    case "string":
      return text;
    case "bool": {
      const value = BOOL_VALUES.get(text);
      return value ?? invalid("a boolean (true or false)");
    }
    case "int": {
      // Every int flag of our commands ends up in a 32-bit field (TTLs in int32 proto
      // fields, ports), so a larger value is rejected here instead of wrapping later.
      const value = parseGoInt(text);
      if (value === undefined || value < INT32_MIN || value > INT32_MAX) {
        return invalid(`an integer from ${INT32_MIN} to ${INT32_MAX}`);
      }
      return value;
    }
    case "duration":
      try {
        return parseDuration(text);
      } catch (error) {
        if (error instanceof FlagError) {
          return invalid('a duration such as "10s" or "1h30m"');
        }
        throw error;
      }
  }
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** The spellings Go's strconv.ParseBool accepts. */
const BOOL_VALUES: ReadonlyMap<string, boolean> = new Map([
  ["1", true],
  ["t", true],
  ["T", true],
  ["true", true],
  ["TRUE", true],
  ["True", true],
  ["0", false],
  ["f", false],
  ["F", false],
  ["false", false],
  ["FALSE", false],
  ["False", false],
]);

/** Parses an integer with Go's base prefixes (0x, 0o, 0b, leading-zero octal) and `_` separators. */
function parseGoInt(text: string): number | undefined {
  const match = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(text);
  if (match === null) {
    return undefined;
  }

  const sign = match[1] === "-" ? -1n : 1n;
  const digits = (match[2] as string).replace(/_/g, "");
  if (digits.endsWith("x") || digits.endsWith("X")) {
    return undefined;
  }

  let value: bigint;
  if (/^0[oO]/.test(digits)) {
    value = BigInt(`0o${digits.slice(2)}`);
  } else if (/^0[0-7]+$/.test(digits)) {
    value = BigInt(`0o${digits.slice(1)}`);
  } else {
    value = BigInt(digits);
  }

  const result = Number(sign * value);
  return Number.isSafeInteger(result) ? result : undefined;
}

function describeDefault(spec: FlagSpec): string {
  if (spec.default === undefined || spec.repeatable === true) {
    return "";
  }
  switch (spec.type) {
    case "string":
      return spec.default === "" ? "" : ` (default ${JSON.stringify(spec.default)})`;
    case "bool":
      return spec.default === true ? " (default true)" : "";
    case "int":
      return spec.default === 0 ? "" : ` (default ${spec.default})`;
    case "duration":
      return spec.default === 0 ? "" : ` (default ${formatDuration(spec.default as number)})`;
  }
}
