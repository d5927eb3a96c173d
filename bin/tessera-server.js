#!/usr/bin/env node
// Entry point of the tessera-server command; the code lives in dist/ after `npm run build`.
// process.exit ends the process even if a library left a timer running. On Linux, writes to
// standard output and error are synchronous for files, pipes and terminals, so none are lost.
import { main } from "../dist/src/server/cli/main.js";

process.exit(await main(process.argv.slice(2)));
