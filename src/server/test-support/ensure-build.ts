import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file sits in src/server/test-support/). */
export const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** The compiled CLI that bin/tessera-server.js loads. */
const BUILT_MAIN = join(REPOSITORY_ROOT, "dist/src/server/cli/main.js");

/**
 * Makes sure dist/ contains a build of the server that is not older than its sources, and
 * runs `npm run build` (proto types, then tsc) otherwise. `make test` builds first, so in CI
 * this only checks. In a development loop it keeps the process tests from running stale code.
 */
export function ensureServerBuild(): void {
  if (existsSync(BUILT_MAIN) && newestSource(join(REPOSITORY_ROOT, "src")) <= statSync(BUILT_MAIN).mtimeMs) {
    return;
  }
  execFileSync("npm", ["run", "build"], { cwd: REPOSITORY_ROOT, stdio: "pipe" });
}

function newestSource(folder: string): number {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      newest = Math.max(newest, newestSource(path));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}
