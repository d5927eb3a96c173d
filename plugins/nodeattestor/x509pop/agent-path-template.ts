/**
 * The subset of Go text/template that x509pop's `agent_path_template` supports: literal
 * text and field references such as `{{ .Fingerprint }}`, with optional `{{-` and `-}}`
 * whitespace trimming. SPIRE evaluates the full template language with a set of Sprig
 * functions (pkg/common/agentpathtemplate in spiffe/spire). Conditionals, pipelines and
 * functions are rejected when the configuration is read.
 */

/** The values a template can reference, taken from the verified leaf certificate. */
export interface AgentPathValues {
  pluginName: string;
  /** SHA-1 of the leaf DER, lowercase hex. */
  fingerprint: string;
  trustDomain: string;
  commonName: string;
  serialNumberHex: string;
  /** Key and value of each `x509pop://<trust domain>/<key>/<value>` URI SAN. */
  uriSanSelectors: ReadonlyMap<string, string>;
}

/** A parsed template; render it with {@link renderAgentPath}. */
export interface AgentPathTemplate {
  /** The template text as configured, for messages. */
  source: string;
  parts: readonly TemplatePart[];
}

type TemplatePart = { text: string } | { field: readonly string[] };

/** SPIRE's default for x509pop in external_pki mode. */
export const DEFAULT_AGENT_PATH_TEMPLATE = "/{{ .PluginName }}/{{ .Fingerprint }}";

/** Fields this subset can render, as written after the dot. */
const SIMPLE_FIELDS = ["PluginName", "Fingerprint", "TrustDomain", "SerialNumberHex", "Subject.CommonName"];

const ACTION = /\{\{(-\s)?\s*([^{}]*?)\s*(\s-)?\}\}/g;
const FIELD_CHAIN = /^(\.[A-Za-z_][A-Za-z0-9_]*)+$/;

/**
 * Parses `source`. Throws an Error whose message names the first unsupported action and
 * lists the supported fields. The template must start with "/", because the rendered
 * path is appended to `/spire/agent`.
 */
export function parseAgentPathTemplate(source: string): AgentPathTemplate {
  if (!source.startsWith("/")) {
    throw new Error(
      `${JSON.stringify(source)} must start with "/": the agent ID is spiffe://<trust domain>/spire/agent followed by the rendered path, ` +
        `e.g. "${DEFAULT_AGENT_PATH_TEMPLATE}"`,
    );
  }

  const parts: TemplatePart[] = [];
  let position = 0;
  let trimNext = false;

  for (const match of source.matchAll(ACTION)) {
    const [action, trimBefore, expression = "", trimAfter] = match;
    let text = source.slice(position, match.index);
    if (trimNext) text = text.trimStart();
    if (trimBefore !== undefined) text = text.trimEnd();
    pushText(parts, text);

    parts.push({ field: parseField(expression, action) });
    position = match.index + action.length;
    trimNext = trimAfter !== undefined;
  }

  const rest = source.slice(position);
  if (rest.includes("{{") || rest.includes("}}")) {
    throw new Error(`unbalanced "{{" or "}}" in ${JSON.stringify(source)}`);
  }
  pushText(parts, trimNext ? rest.trimStart() : rest);
  return { source, parts };
}

/**
 * Renders the template for one certificate. Throws an Error when it references a
 * `.URISanSelectors` key the certificate does not have.
 */
export function renderAgentPath(template: AgentPathTemplate, values: AgentPathValues): string {
  return template.parts.map((part) => ("text" in part ? part.text : fieldValue(part.field, values))).join("");
}

function pushText(parts: TemplatePart[], text: string): void {
  if (text.includes("{{") || text.includes("}}")) {
    throw new Error(`unsupported template syntax near ${JSON.stringify(text)}`);
  }
  if (text !== "") {
    parts.push({ text });
  }
}

function parseField(expression: string, action: string): string[] {
  const supported = `supported fields are ${[...SIMPLE_FIELDS, "URISanSelectors.<key>"].map((field) => `.${field}`).join(", ")}`;
  if (!FIELD_CHAIN.test(expression)) {
    throw new Error(`unsupported template action ${JSON.stringify(action)}: tessera-server renders field references only; ${supported}`);
  }

  const field = expression.slice(1).split(".");
  const name = field.join(".");
  if (field[0] === "URISanSelectors" && field.length === 2) {
    return field;
  }
  if (name === "SVIDPathTrimmed") {
    throw new Error(`${action} needs mode = "spiffe", which tessera-server does not support yet`);
  }
  if (!SIMPLE_FIELDS.includes(name)) {
    throw new Error(`unsupported field .${name} in ${JSON.stringify(action)}; ${supported}`);
  }
  return field;
}

function fieldValue(field: readonly string[], values: AgentPathValues): string {
  switch (field.join(".")) {
    case "PluginName":
      return values.pluginName;
    case "Fingerprint":
      return values.fingerprint;
    case "TrustDomain":
      return values.trustDomain;
    case "SerialNumberHex":
      return values.serialNumberHex;
    case "Subject.CommonName":
      return values.commonName;
  }

  const key = field[1] as string;
  const value = values.uriSanSelectors.get(key);
  if (value === undefined) {
    throw new Error(`the template uses .URISanSelectors.${key}, but the certificate has no x509pop://${values.trustDomain}/${key}/<value> URI SAN`);
  }
  return value;
}
