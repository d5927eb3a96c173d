#!/usr/bin/env node
// Entry point of the tessera-agent command; the code lives in dist/ after `npm run build`.
// process.exit ends the process even if a library left a timer running; on Linux, writes
// to standard output and error are synchronous for files, pipes and terminals, so nothing is lost.
import { main } from "../dist/src/agent/cli/main.js";

process.exit(await main(process.argv.slice(2)));
