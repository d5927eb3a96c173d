import { ConfigError } from "./config-error.js";
import type { ConfigBlock } from "./config-values.js";

/**
 * Rejects every key of `block` that is not in `supported`: a key listed in `unsupported`
 * gets "option X is not supported yet", any other key "unknown option X", with the closest
 * known name when one is near. `path` prefixes the key in messages (`agent`).
 */
export function checkKeys(
  block: ConfigBlock,
  path: string,
  supported: readonly string[],
  unsupported: readonly string[],
): void {
  for (const key of Object.keys(block)) {
    if (supported.includes(key)) {
      continue;
    }

    const name = path === "" ? key : `${path}.${key}`;
    if (unsupported.includes(key)) {
      throw new ConfigError(`option ${name} is not supported yet by tessera-agent; remove it from the configuration`);
    }

    const suggestion = closestName(key, [...supported, ...unsupported]);
    const hint = suggestion === undefined ? "" : `; did you mean ${suggestion}?`;
    throw new ConfigError(`unknown option ${name}${hint}`);
  }
}

/** Returns the candidate within edit distance 2 of `name` (3 for long names), or undefined. */
function closestName(name: string, candidates: readonly string[]): string | undefined {
  const limit = name.length > 12 ? 3 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;

  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
