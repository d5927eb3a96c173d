import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Loads a C addon that node-gyp builds into `build/Release/<fileName>` of the package root.
 * The root is the nearest folder above this file with a package.json, so the same code
 * works from `src/` under vitest, from `dist/src/` after tsc and from an installed copy.
 * Throws naming the addon (`description`) and how to build it.
 */
export function loadNativeAddon<T>(fileName: string, description: string): T {
  const addonPath = join(findPackageRoot(), "build", "Release", fileName);
  try {
    return createRequire(import.meta.url)(addonPath) as T;
  } catch (error) {
    throw new Error(
      `failed to load the ${description} addon ${addonPath}: ${(error as Error).message}; ` +
        "build it with `npm install` or `node-gyp rebuild --nodedir=/usr`",
      { cause: error },
    );
  }
}

function findPackageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));

  for (let directory = start; dirname(directory) !== directory; directory = dirname(directory)) {
    if (existsSync(join(directory, "package.json"))) {
      return directory;
    }
  }
  throw new Error(`failed to find the package root: no package.json above ${start}`);
}
