import { runAgentBan, runAgentEvict, runAgentList, runAgentShow } from "./agent-command.js";
import { runBundleDelete, runBundleList, runBundleSet, runBundleShow } from "./bundle-command.js";
import { processIo } from "./command.js";
import type { CommandIo } from "./command.js";
import { runEntryCreate, runEntryDelete, runEntryShow } from "./entry-command.js";
import { runServerCommand } from "./run-command.js";
import { runTokenGenerate } from "./token-command.js";

const USAGE = `Usage: tessera-server <command> [flags]

Commands:
  run               Run the server (flags: tessera-server run -help)
  token generate    Generate a join token for an agent
  entry create      Create a registration entry
  entry show        Show registration entries
  entry delete      Delete a registration entry
  agent list        List attested agents
  agent show        Show an attested agent and its selectors
  agent ban         Ban an agent
  agent evict       Evict an agent so that it must attest again
  bundle show       Show the server's trust bundle
  bundle set        Create or replace a federated bundle
  bundle list       List federated bundles
  bundle delete     Delete a federated bundle

Every command except run talks to the server's admin socket (-socketPath).
`;

type Verb = (args: string[], io: CommandIo) => Promise<number>;

const COMMANDS: Record<string, Record<string, Verb>> = {
  token: { generate: runTokenGenerate },
  entry: { create: runEntryCreate, show: runEntryShow, delete: runEntryDelete },
  agent: { list: runAgentList, show: runAgentShow, ban: runAgentBan, evict: runAgentEvict },
  bundle: { show: runBundleShow, set: runBundleSet, list: runBundleList, delete: runBundleDelete },
};

/**
 * Dispatches `tessera-server <command> [<verb>] [flags]` and returns the exit code.
 * `args` are the arguments after the program name.
 */
export async function main(args: string[], io: CommandIo = processIo()): Promise<number> {
  const [command, verb, ...rest] = args;

  if (command === "run") {
    return runServerCommand(args.slice(1), io);
  }
  if (command === undefined || ["-h", "-help", "--help", "help"].includes(command)) {
    io.out(USAGE);
    return command === undefined ? 1 : 0;
  }

  const verbs = COMMANDS[command];
  if (verbs === undefined) {
    io.err(`tessera-server: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 1;
  }
  const run = verb === undefined ? undefined : verbs[verb];
  if (run === undefined) {
    const known = Object.keys(verbs).map((name) => `${command} ${name}`).join(", ");
    io.err(`tessera-server: unknown command ${JSON.stringify(args.slice(0, 2).join(" "))}; supported: ${known}\n`);
    return 1;
  }
  return run(rest, io);
}
