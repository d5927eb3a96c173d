import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Returns Tessera's version from the package.json of the `tessera` package above this
 * file (in `src/` or in `dist/src/`), or "unknown" when none is found.
 */
export function tesseraVersion(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    try {
      const manifest = JSON.parse(readFileSync(join(folder, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (manifest.name === "tessera" && typeof manifest.version === "string") {
        return manifest.version;
      }
    } catch {
      // No readable package.json here: look one folder up.
    }
    folder = dirname(folder);
  }
  return "unknown";
}
