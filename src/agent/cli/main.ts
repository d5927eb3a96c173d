import { run as runApiFetchJwt } from "./api-fetch-jwt.js";
import { run as runApiFetchX509 } from "./api-fetch-x509.js";
import { run as runApiValidateJwt } from "./api-validate-jwt.js";
import { run as runApiWatch } from "./api-watch.js";
import { runDebugCommand } from "./debug-getinfo.js";
import { run as runHealthcheck } from "./healthcheck.js";
import { runLoggerCommand } from "./logger-command.js";
import { run as runAgentCommand } from "./run.js";
import { run as runValidate } from "./validate.js";

const USAGE = `Usage: tessera-agent <command> [flags]

Commands:
  run              Run the agent (flags: tessera-agent run -help)
  validate         Check a configuration file without starting anything (same flags as run)
  api fetch x509   Fetch this process's X.509-SVIDs from the Workload API ("api fetch" is the same)
  api fetch jwt    Fetch JWT-SVIDs for -audience and the JWT bundles
  api validate jwt Validate a JWT-SVID (-svid) for an audience (-audience)
  api watch        Print this process's X.509-SVIDs on every update until Ctrl-C
  healthcheck      Check that the agent's Workload API answers
  debug getinfo    Print the agent's uptime, last sync, cache counts and SVID chain (admin API)
  logger get       Print the agent's current and launch log level (admin API)
  logger set       Change the agent's log level to -level (admin API)
  logger reset     Set the agent's log level back to the launch level (admin API)
`;

/**
 * Dispatches `tessera-agent <command>` to its implementation and returns the exit code.
 * `args` are the arguments after the program name.
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;

  switch (command) {
    case "run":
      return runAgentCommand(rest);
    case "validate":
      return runValidate(rest);
    case "healthcheck":
      return runHealthcheck(rest);
    case "debug":
      return runDebugCommand(rest);
    case "logger":
      return runLoggerCommand(rest);
    case "api":
      return runApi(rest);
    case undefined:
    case "-h":
    case "-help":
    case "--help":
    case "help":
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`tessera-agent: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 1;
  }
}

function runApi(args: string[]): Promise<number> {
  const [verb, kind, ...rest] = args;
  if (verb === "fetch" && kind === "x509") {
    return runApiFetchX509(rest);
  }
  if (verb === "fetch" && kind === "jwt") {
    return runApiFetchJwt(rest);
  }
  if (verb === "validate" && kind === "jwt") {
    return runApiValidateJwt(rest);
  }
  if (verb === "watch") {
    return runApiWatch(kind === undefined ? [] : [kind, ...rest]);
  }
  if (verb === "fetch" && (kind === undefined || kind.startsWith("-"))) {
    return runApiFetchX509(kind === undefined ? [] : [kind, ...rest]);
  }
  process.stderr.write(`tessera-agent api: unknown command ${JSON.stringify(args.join(" "))}; supported: api fetch x509, api fetch jwt, api validate jwt, api watch\n`);
  return Promise.resolve(1);
}
