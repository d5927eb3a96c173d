/**
 * A small HCL v1 parser for SPIRE-style configuration files (agent.conf, server.conf).
 *
 * npm has no maintained parser for HCL v1 (the syntax of hashicorp/hcl v1, which SPIRE
 * reads), so this one is written here. It follows the v1 scanner's token rules and decodes
 * to plain JSON-like data the way SPIRE's configuration reads:
 *
 * - comments `#`, `//` and `/* ... *\/` (block comments do not nest);
 * - `key = value`, where a key is an identifier (letters, digits, `_`, `-`, `.`) or a
 *   quoted string, and items may be separated by commas;
 * - values: strings with escapes (`${...}` is kept literally, as SPIRE does not evaluate
 *   it), heredocs `<<EOF` and `<<-EOF`, numbers (decimal, `0x` hex, leading-zero octal,
 *   floats with exponents, negative), `true`/`false`, lists `[a, b,]` and objects `{ ... }`;
 * - blocks `name { ... }` and labelled blocks `Type "label" { ... }` (labels may also be
 *   identifiers): `plugins { NodeAttestor "join_token" { plugin_data {} } }` becomes
 *   `{ plugins: { NodeAttestor: { join_token: { plugin_data: {} } } } }`.
 *
 * Choices where HCL v1 itself is loose, with the reason:
 * - Labelled blocks with the same type and different labels merge into one object, because
 *   that is how SPIRE's `plugins {}` section is written.
 * - Setting a key twice, repeating an unlabelled block, or repeating the same labels is an
 *   error naming the key and both lines. HCL v1 would turn repeats into lists, but SPIRE's
 *   settings are single values, so a repeat is almost always a copy-and-paste mistake.
 * - A heredoc whose closing marker is the last line of the file, with no newline after
 *   it, is accepted (HCL v1 reports it as not terminated).
 * - `<<-EOF` strips the closing marker's indentation only when every line starts with it,
 *   as HCL v1 does. One blank or less-indented line leaves the text as it is.
 */

/** Raised for any syntax or structure error; `message` starts with `file:line:column:`. */
export class HclParseError extends Error {
  override readonly name = "HclParseError";

  constructor(
    readonly fileName: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${fileName}:${line}:${column}: ${reason}`);
  }
}

/** Maximum nesting of blocks, objects and lists, so hostile input cannot overflow the stack. */
const MAX_NESTING = 100;

type TokenKind =
  | "identifier"
  | "string"
  | "heredoc"
  | "number"
  | "bool"
  | "lbrace"
  | "rbrace"
  | "lbracket"
  | "rbracket"
  | "comma"
  | "assign"
  | "eof";

interface Token {
  kind: TokenKind;
  /** Decoded value: text for identifiers, strings and heredocs, number or boolean otherwise. */
  value: string | number | boolean;
  /** Source text, for error messages. */
  text: string;
  offset: number;
}

/**
 * Parses HCL v1 text into plain objects, arrays, strings, numbers and booleans.
 *
 * `fileName` only appears in error messages (default `config`). Throws
 * {@link HclParseError} for every problem in the input, and never another error type.
 */
export function parseHcl(text: string, fileName = "config"): Record<string, unknown> {
  const tokens = tokenize(text, fileName);
  return new Parser(text, fileName, tokens).parseFile();
}

/**
 * Parses a configuration file that is either HCL v1 or JSON, as SPIRE accepts both.
 *
 * The text is JSON when its first character other than whitespace is `{`, which is the
 * rule HCL v1 uses to pick its JSON mode. A comment before the `{` therefore makes the
 * text HCL. JSON errors are reported as {@link HclParseError} with line and column, and
 * the top level must be an object. JSON keeps the last of repeated keys (JSON.parse does).
 */
export function parseConfigText(text: string, fileName = "config"): Record<string, unknown> {
  if (text.trimStart().startsWith("{")) {
    return parseJsonConfig(text, fileName);
  }
  return parseHcl(text, fileName);
}

/**
 * Replaces `$VAR` and `${VAR}` with values from `env`, as Go's os.ExpandEnv does for
 * SPIRE's `-expandEnv` flag. Unset variables become empty. A `$` followed by a character
 * that cannot start a name stays, while a malformed `${}` or an unterminated `${` is
 * dropped. Single-character shell names (`$1`, `$$`, `$@`, ...) are looked up like others.
 */
export function expandEnv(text: string, env: Readonly<Record<string, string | undefined>>): string {
  let result = "";
  let index = 0;

  while (index < text.length) {
    const dollar = text.indexOf("$", index);
    if (dollar === -1 || dollar === text.length - 1) {
      result += text.slice(index);
      break;
    }

    result += text.slice(index, dollar);
    const { name, width } = readShellName(text, dollar + 1);
    if (name !== "") {
      result += env[name] ?? "";
    } else if (width === 0) {
      result += "$";
    }
    index = dollar + 1 + width;
  }

  return result;
}

/**
 * Reads a variable name after `$` the way Go's os.Expand does. A width above zero with an
 * empty name means bad syntax whose characters are dropped.
 */
function readShellName(text: string, start: number): { name: string; width: number } {
  const first = text[start] as string;

  if (first === "{") {
    const special = text[start + 1];
    if (special !== undefined && isShellSpecial(special) && text[start + 2] === "}") {
      return { name: special, width: 3 };
    }

    const close = text.indexOf("}", start + 1);
    if (close === -1) {
      return { name: "", width: 1 };
    }
    if (close === start + 1) {
      return { name: "", width: 2 };
    }
    return { name: text.slice(start + 1, close), width: close - start + 1 };
  }

  if (isShellSpecial(first)) {
    return { name: first, width: 1 };
  }

  let end = start;
  while (end < text.length && /[A-Za-z0-9_]/.test(text[end] as string)) {
    end++;
  }
  return { name: text.slice(start, end), width: end - start };
}

function isShellSpecial(char: string): boolean {
  return "*#$@!?-0123456789".includes(char);
}

function parseJsonConfig(text: string, fileName: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    const offset = position ? Number(position[1]) : 0;
    const { line, column } = lineAndColumn(text, offset);
    throw new HclParseError(fileName, line, column, `invalid JSON: ${message}`);
  }

  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HclParseError(fileName, 1, 1, "invalid JSON configuration: the top level must be an object");
  }
  return value as Record<string, unknown>;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let index = 0; index < offset && index < text.length; index++) {
    if (text.charCodeAt(index) === 10) {
      line++;
      lineStart = index + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

// ---------------------------------------------------------------------------------------
// Scanner

const IDENTIFIER_START = /[\p{L}_]/u;
const IDENTIFIER_PART = /[\p{L}\p{Nd}_.-]/u;

function tokenize(text: string, fileName: string): Token[] {
  const tokens: Token[] = [];
  const fail = (offset: number, reason: string): never => {
    const { line, column } = lineAndColumn(text, offset);
    throw new HclParseError(fileName, line, column, reason);
  };

  let offset = 0;
  for (;;) {
    offset = skipSpaceAndComments(text, offset, fail);
    if (offset >= text.length) {
      tokens.push({ kind: "eof", value: "", text: "end of file", offset });
      return tokens;
    }

    const token = scanToken(text, offset, fail);
    tokens.push(token);
    offset += token.text.length;
  }
}

type Fail = (offset: number, reason: string) => never;

function skipSpaceAndComments(text: string, start: number, fail: Fail): number {
  let offset = start;
  while (offset < text.length) {
    const char = text[offset];
    if (char === " " || char === "\t" || char === "\n" || char === "\r") {
      offset++;
      continue;
    }

    const isLineComment = char === "#" || (char === "/" && text[offset + 1] === "/");
    if (isLineComment) {
      const newline = text.indexOf("\n", offset);
      offset = newline === -1 ? text.length : newline;
      continue;
    }

    if (char === "/" && text[offset + 1] === "*") {
      const end = text.indexOf("*/", offset + 2);
      if (end === -1) {
        fail(offset, 'block comment is not terminated: expected "*/"');
      }
      offset = end + 2;
      continue;
    }

    if (char === "/") {
      fail(offset, 'unexpected "/": comments start with "//", "#" or "/*"');
    }
    return offset;
  }
  return offset;
}

function scanToken(text: string, offset: number, fail: Fail): Token {
  const char = text[offset] as string;
  const single = (kind: TokenKind): Token => ({ kind, value: char, text: char, offset });

  switch (char) {
    case "{":
      return single("lbrace");
    case "}":
      return single("rbrace");
    case "[":
      return single("lbracket");
    case "]":
      return single("rbracket");
    case ",":
      return single("comma");
    case "=":
      return single("assign");
    case '"':
      return scanString(text, offset, fail);
    case "<":
      return scanHeredoc(text, offset, fail);
  }

  const isNumberStart =
    /[0-9]/.test(char) ||
    (char === "-" && /[0-9.]/.test(text[offset + 1] ?? "")) ||
    (char === "." && /[0-9]/.test(text[offset + 1] ?? ""));
  if (isNumberStart) {
    return scanNumber(text, offset, fail);
  }

  if (IDENTIFIER_START.test(char)) {
    let end = offset + 1;
    while (end < text.length && IDENTIFIER_PART.test(text[end] as string)) {
      end++;
    }
    const identifier = text.slice(offset, end);
    if (identifier === "true" || identifier === "false") {
      return { kind: "bool", value: identifier === "true", text: identifier, offset };
    }
    return { kind: "identifier", value: identifier, text: identifier, offset };
  }

  if (char === "'") {
    return fail(offset, "unexpected \"'\": strings use double quotes");
  }
  return fail(offset, `unexpected character ${JSON.stringify(char)}`);
}

function scanNumber(text: string, offset: number, fail: Fail): Token {
  const match = /^-?(?:0[xX][0-9a-fA-F]*|[0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]*)?)/.exec(text.slice(offset));
  let end = offset + (match?.[0].length ?? 0);
  // Letters or digits right after the number (as in 10s or 0x) make the whole word invalid.
  while (end < text.length && IDENTIFIER_PART.test(text[end] as string)) {
    end++;
  }

  const source = text.slice(offset, end);
  const value = decodeNumber(source);
  if (value === undefined) {
    fail(offset, `invalid number ${JSON.stringify(source)}; write durations and other text in double quotes, e.g. "10s"`);
  }
  return { kind: "number", value: value as number, text: source, offset };
}

function decodeNumber(source: string): number | undefined {
  const negative = source.startsWith("-");
  const digits = negative ? source.slice(1) : source;
  let magnitude: number;

  if (/^0[xX][0-9a-fA-F]+$/.test(digits)) {
    magnitude = Number.parseInt(digits.slice(2), 16);
  } else if (/^0[0-7]+$/.test(digits)) {
    // HCL v1 reads integers with Go's base prefix rules, so a leading zero means octal.
    magnitude = Number.parseInt(digits.slice(1), 8);
  } else if (/^(?:[1-9][0-9]*|0)$/.test(digits)) {
    magnitude = Number(digits);
  } else if (/^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(digits) && /[.eE]/.test(digits)) {
    magnitude = Number(digits);
  } else {
    return undefined;
  }

  const isInteger = !/[.eE]/.test(digits) || /^0[xX]/.test(digits);
  if (isInteger && !Number.isSafeInteger(magnitude)) {
    return undefined;
  }
  if (!Number.isFinite(magnitude)) {
    return undefined;
  }
  return negative ? -magnitude : magnitude;
}

function scanString(text: string, start: number, fail: Fail): Token {
  let value = "";
  let offset = start + 1;

  for (;;) {
    const char = text[offset];
    if (char === undefined || char === "\n") {
      fail(start, 'string is not terminated: expected a closing double quote on the same line');
    }

    if (char === '"') {
      offset++;
      break;
    }

    if (char === "$" && text[offset + 1] === "{") {
      const end = findInterpolationEnd(text, offset + 2);
      if (end === -1) {
        fail(offset, 'interpolation "${" is not closed with "}" before the end of the file');
      }
      value += text.slice(offset, end);
      offset = end;
      continue;
    }

    if (char === "\\") {
      const escape = decodeEscape(text, offset, fail);
      value += escape.value;
      offset += escape.length;
      continue;
    }

    const codePoint = text.codePointAt(offset) as number;
    const decoded = String.fromCodePoint(codePoint);
    value += decoded;
    offset += decoded.length;
  }

  return { kind: "string", value, text: text.slice(start, offset), offset: start };
}

/** Returns the offset just past the `}` that closes an interpolation, or -1. */
function findInterpolationEnd(text: string, start: number): number {
  let depth = 1;
  for (let offset = start; offset < text.length; offset++) {
    const char = text[offset];
    if (char === "{") {
      depth++;
    } else if (char === "}") {
      depth--;
      if (depth === 0) {
        return offset + 1;
      }
    }
  }
  return -1;
}

const SIMPLE_ESCAPES: ReadonlyMap<string, string> = new Map([
  ["a", "\x07"],
  ["b", "\b"],
  ["f", "\f"],
  ["n", "\n"],
  ["r", "\r"],
  ["t", "\t"],
  ["v", "\v"],
  ["\\", "\\"],
  ['"', '"'],
]);

/** Number of hexadecimal digits after `\x`, `\u` and `\U`. */
const HEX_ESCAPE_DIGITS: ReadonlyMap<string, number> = new Map([
  ["x", 2],
  ["u", 4],
  ["U", 8],
]);

function decodeEscape(text: string, offset: number, fail: Fail): { value: string; length: number } {
  const kind = text[offset + 1] ?? "";
  const simple = SIMPLE_ESCAPES.get(kind);
  if (simple !== undefined) {
    return { value: simple, length: 2 };
  }

  const hexDigits = HEX_ESCAPE_DIGITS.get(kind);
  if (hexDigits !== undefined) {
    const digits = text.slice(offset + 2, offset + 2 + hexDigits);
    if (!new RegExp(`^[0-9a-fA-F]{${hexDigits}}$`).test(digits)) {
      fail(offset, `invalid escape "\\${kind}": expected ${hexDigits} hexadecimal digits`);
    }
    const codePoint = Number.parseInt(digits, 16);
    if (codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) {
      fail(offset, `invalid escape "\\${kind}${digits}": not a Unicode code point`);
    }
    return { value: String.fromCodePoint(codePoint), length: 2 + hexDigits };
  }

  if (/[0-7]/.test(kind)) {
    const digits = text.slice(offset + 1, offset + 4);
    if (!/^[0-7]{3}$/.test(digits) || Number.parseInt(digits, 8) > 255) {
      fail(offset, 'invalid octal escape: expected three octal digits up to "\\377"');
    }
    return { value: String.fromCodePoint(Number.parseInt(digits, 8)), length: 4 };
  }

  return fail(offset, `invalid escape sequence "\\${kind}"`);
}

function scanHeredoc(text: string, start: number, fail: Fail): Token {
  if (text[start + 1] !== "<") {
    fail(start, 'unexpected "<": a heredoc starts with "<<" followed by a marker, e.g. <<EOF');
  }

  const anchor = /^<<(-?)([\p{L}\p{Nd}_]*)(\r?\n|$)?/u.exec(text.slice(start));
  const indented = anchor?.[1] === "-";
  const marker = anchor?.[2] ?? "";
  if (marker === "") {
    fail(start, "heredoc marker is missing: expected a name such as EOF right after <<");
  }
  if (anchor?.[3] === undefined || anchor[3] === "") {
    fail(start, `invalid heredoc anchor: expected a newline right after <<${indented ? "-" : ""}${marker}`);
  }

  const contentStart = start + (anchor as RegExpExecArray)[0].length;
  const terminator = new RegExp(`^[ \\t\\v\\f\\r]*${marker}\\r*$`, "u");
  let lineStart = contentStart;

  for (;;) {
    if (lineStart > text.length) {
      fail(start, `heredoc is not terminated: expected a line containing only ${marker}`);
    }

    const newline = text.indexOf("\n", lineStart);
    const lineEnd = newline === -1 ? text.length : newline;
    const line = text.slice(lineStart, lineEnd);

    if (terminator.test(line)) {
      const content = text.slice(contentStart, lineStart);
      const value = indented ? unindentHeredoc(content, line.slice(0, line.indexOf(marker))) : content;
      const end = newline === -1 ? text.length : newline + 1;
      return { kind: "heredoc", value, text: text.slice(start, end), offset: start };
    }

    if (newline === -1) {
      fail(start, `heredoc is not terminated: expected a line containing only ${marker}`);
    }
    lineStart = newline + 1;
  }
}

function unindentHeredoc(content: string, prefix: string): string {
  if (content === "") {
    return "";
  }

  const lines = content.slice(0, -1).split("\n");
  if (!lines.every((line) => line.startsWith(prefix))) {
    return content;
  }
  return lines.map((line) => line.slice(prefix.length)).join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------
// Parser and decoder

class Parser {
  private index = 0;
  private depth = 0;
  /** Objects made only to hold labelled blocks; later labelled blocks may add to them. */
  private readonly labelContainers = new WeakSet<object>();
  /** Offset of the token that set each key, for "already set at line N" messages. */
  private readonly keyOffsets = new WeakMap<object, Map<string, number>>();

  constructor(
    private readonly text: string,
    private readonly fileName: string,
    private readonly tokens: Token[],
  ) {}

  parseFile(): Record<string, unknown> {
    const result = this.parseItems("eof");
    this.expect("eof", "a key or end of file");
    return result;
  }

  /** Parses `key = value` items and blocks until a token of kind `end` (not consumed). */
  private parseItems(end: TokenKind): Record<string, unknown> {
    const object: Record<string, unknown> = {};
    while (this.peek().kind !== end && this.peek().kind !== "eof") {
      this.parseItem(object);
      if (this.peek().kind === "comma") {
        this.next();
      }
    }
    return object;
  }

  private parseItem(target: Record<string, unknown>): void {
    const keys: Token[] = [];
    for (;;) {
      const token = this.peek();
      if (token.kind !== "identifier" && token.kind !== "string") {
        break;
      }
      keys.push(this.next());
    }

    const first = keys[0];
    if (first === undefined) {
      this.failAt(this.peek(), `expected a key, found ${describe(this.peek())}`);
    }
    const firstKey = first as Token;

    const after = this.peek();
    if (after.kind === "assign") {
      if (keys.length > 1) {
        this.failAt(after, `expected "{" after the labels of block ${quoteKeys(keys)}, found "="`);
      }
      this.next();
      this.store(target, keys, this.parseValue(`the value of ${quoteKeys([firstKey])}`));
      return;
    }

    if (after.kind === "lbrace") {
      this.store(target, keys, this.parseObject());
      return;
    }

    this.failAt(after, `expected "=" or "{" after ${quoteKeys(keys)}, found ${describe(after)}`);
  }

  /** Parses one value; `context` names what it is for in error messages. */
  private parseValue(context: string): unknown {
    const token = this.peek();
    switch (token.kind) {
      case "string":
      case "heredoc":
      case "number":
      case "bool":
        this.next();
        return token.value;
      case "lbrace":
        return this.parseObject();
      case "lbracket":
        return this.parseList();
      case "identifier":
        return this.failAt(token, `expected ${context}, found ${describe(token)}; write text in double quotes`);
      default:
        return this.failAt(token, `expected ${context}, found ${describe(token)}`);
    }
  }

  private parseObject(): Record<string, unknown> {
    const open = this.next();
    this.enter(open);
    const object = this.parseItems("rbrace");
    this.expect("rbrace", '"}"');
    this.depth--;
    return object;
  }

  private parseList(): unknown[] {
    const open = this.next();
    this.enter(open);
    const list: unknown[] = [];

    while (this.peek().kind !== "rbracket") {
      list.push(this.parseValue("a list element or \"]\""));
      const separator = this.peek();
      if (separator.kind === "comma") {
        this.next();
      } else if (separator.kind !== "rbracket") {
        this.failAt(separator, `expected "," or "]" in the list, found ${describe(separator)}`);
      }
    }

    this.next();
    this.depth--;
    return list;
  }

  /** Stores a value or block body under one key, or under nested labels. */
  private store(target: Record<string, unknown>, keys: Token[], value: unknown): void {
    let container = target;

    for (const [position, key] of keys.entries()) {
      const name = key.value as string;
      const isLast = position === keys.length - 1;
      const existing = Object.hasOwn(container, name) ? container[name] : undefined;

      if (isLast) {
        if (Object.hasOwn(container, name)) {
          this.failDuplicate(container, keys.slice(0, position + 1), key);
        }
        this.define(container, name, value, key);
        return;
      }

      if (existing === undefined) {
        const labels: Record<string, unknown> = {};
        this.labelContainers.add(labels);
        this.define(container, name, labels, key);
        container = labels;
      } else if (typeof existing === "object" && existing !== null && this.labelContainers.has(existing)) {
        container = existing as Record<string, unknown>;
      } else {
        this.failDuplicate(container, keys.slice(0, position + 1), key);
      }
    }
  }

  private define(container: Record<string, unknown>, name: string, value: unknown, key: Token): void {
    // defineProperty makes "__proto__" an ordinary key instead of changing the prototype.
    Object.defineProperty(container, name, { value, enumerable: true, writable: true, configurable: true });
    let offsets = this.keyOffsets.get(container);
    if (offsets === undefined) {
      offsets = new Map();
      this.keyOffsets.set(container, offsets);
    }
    offsets.set(name, key.offset);
  }

  private failDuplicate(container: object, keys: Token[], key: Token): never {
    const previous = this.keyOffsets.get(container)?.get(key.value as string);
    const where = previous === undefined ? "" : ` (first set at line ${lineAndColumn(this.text, previous).line})`;
    return this.failAt(
      key,
      `duplicate key ${quoteKeys(keys)}${where}: each setting and unlabelled block may appear only once`,
    );
  }

  private enter(token: Token): void {
    this.depth++;
    if (this.depth > MAX_NESTING) {
      this.failAt(token, `nesting is deeper than ${MAX_NESTING} levels`);
    }
  }

  private expect(kind: TokenKind, expected: string): Token {
    const token = this.peek();
    if (token.kind !== kind) {
      this.failAt(token, `expected ${expected}, found ${describe(token)}`);
    }
    return this.next();
  }

  private peek(): Token {
    return this.tokens[this.index] as Token;
  }

  private next(): Token {
    const token = this.tokens[this.index] as Token;
    if (token.kind !== "eof") {
      this.index++;
    }
    return token;
  }

  private failAt(token: Token, reason: string): never {
    const { line, column } = lineAndColumn(this.text, token.offset);
    throw new HclParseError(this.fileName, line, column, reason);
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case "eof":
      return "end of file";
    case "identifier":
      return `identifier ${token.text}`;
    case "string":
      return `string ${truncate(token.text)}`;
    case "heredoc":
      return "heredoc";
    case "number":
      return `number ${token.text}`;
    case "bool":
      return `boolean ${token.text}`;
    default:
      return JSON.stringify(token.text);
  }
}

function quoteKeys(keys: Token[]): string {
  return keys.map((key) => JSON.stringify(key.value)).join(" ");
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
