import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "plugins/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end suites start real daemons on fixed temporary folders; running
    // files one at a time keeps two suites from competing for the 2 CPU cores.
    fileParallelism: false,
  },
});
