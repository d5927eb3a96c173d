// Runs inside the systemd container of systemd-in-container.test.ts: attests each pid
// given on the command line with the compiled systemd attestor against the container's
// system bus, and prints one JSON object mapping each pid to its values or error.
import { pino } from "pino";
import { createSystemdAttestor } from "../../../dist/plugins/workloadattestor/systemd/systemd-attestor.js";

const attestor = createSystemdAttestor({}, pino({ level: "debug" }, pino.destination(2)));
const results = {};

for (const pid of process.argv.slice(2).map(Number)) {
  try {
    results[pid] = { values: await attestor.attest(pid, new AbortController().signal) };
  } catch (error) {
    results[pid] = { error: error.message };
  }
}

attestor.close();
process.stdout.write(`${JSON.stringify(results)}\n`);
