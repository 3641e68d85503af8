// Entry point of `npm run pin-agent`; the command itself is in command.ts.
import { pinAgentCommand } from "./command.ts";

process.exitCode = await pinAgentCommand(process.argv.slice(2), {
  env: process.env,
  // npm runs scripts from the package root; INIT_CWD is where the user typed the command.
  cwd: process.env["INIT_CWD"] ?? process.cwd(),
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
