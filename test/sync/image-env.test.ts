import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { contractEnvNames, envFor, imageContract, type EnvKey, type ImageCommand } from "../../generator/contract/image.ts";
import { repoPath } from "../support/repo.ts";
import { assignedNames, referencedNames } from "../support/shell-env.ts";

/**
 * The env contract against the image's scripts (style.md rule 1): every variable the chart sets
 * for a command is read by that command's script, and no script reads an AZP_* / POD_* input the
 * contract does not define. Variables the scripts or the generated contract.sh assign are
 * internal, not inputs.
 */

const BIN = repoPath("agent-image", "bin");
const LIB = repoPath("agent-image", "lib");
const CONTRACT_SH = repoPath("agent-image", "generated", "contract.sh");
const INPUT = /^(AZP|POD)_/;

const commands = Object.keys(imageContract.commands) as ImageCommand[];
const commandScript = (command: ImageCommand): string => join(BIN, imageContract.commands[command]);

function read(file: string): string {
  if (!existsSync(file)) throw new Error(`${file} does not exist (yet): the image must provide it`);
  return readFileSync(file, "utf8");
}

const listDir = (dir: string, filter: (name: string) => boolean): string[] =>
  existsSync(dir) ? readdirSync(dir).filter(filter).sort().map((name) => join(dir, name)) : [];

describe("image scripts", () => {
  it.each(commands.map((command) => ({ command, file: imageContract.commands[command] })))("should include agent-image/bin/$file for the $command command", ({ command }) => {
    expect(existsSync(commandScript(command)), `${commandScript(command)} is missing`).toBe(true);
  });

  const pairs = (Object.keys(imageContract.env) as EnvKey[]).flatMap((key) =>
    imageContract.env[key].reads.map((command) => ({ name: imageContract.env[key].name, command, file: imageContract.commands[command] })),
  );
  it.each(pairs)("should read $name in $file", ({ name, command }) => {
    // The commands read their inputs themselves, with literal names (agent-image/lib/common.sh).
    expect([...referencedNames(read(commandScript(command)))]).toContain(name);
  });

  it.each(commands)("should let the %s command read only the contract variables the chart sets for it", (command) => {
    const given = new Set<string>(envFor(command).map((key) => imageContract.env[key].name));
    const contract = new Set<string>(contractEnvNames());
    const readButNotGiven = [...referencedNames(read(commandScript(command)))].filter((n) => contract.has(n) && !given.has(n));
    expect(readButNotGiven, "the chart does not set these for this command: add the command to the variable's `reads` in generator/contract/image.ts").toEqual([]);
  });

  it("should read no AZP_* or POD_* input that the contract does not define", () => {
    const scripts = [...listDir(BIN, () => true), ...listDir(LIB, (n) => n.endsWith(".sh"))];
    expect(scripts.length).toBeGreaterThan(0);
    const internal = new Set([...assignedNames(read(CONTRACT_SH)), ...scripts.flatMap((f) => [...assignedNames(read(f))])]);
    const contract = new Set<string>(contractEnvNames());
    const unknown = scripts.flatMap((file) =>
      [...referencedNames(read(file))].filter((n) => INPUT.test(n) && !contract.has(n) && !internal.has(n)).map((n) => `${file.slice(repoPath().length)}: ${n}`),
    );
    expect(unknown, "inputs read by the image but missing from generator/contract/image.ts").toEqual([]);
  });
});

describe("the shell variable reader these checks rely on", () => {
  it.each([
    { script: 'url="${AZP_URL:-}"', reads: ["AZP_URL"], assigns: ["url"] },
    { script: "echo $POD_NAME ${#AZP_POOL} ${!AZP_REF}", reads: ["POD_NAME", "AZP_POOL", "AZP_REF"], assigns: [] },
    { script: "# uses $AZP_IN_COMMENT\nlocal a b=1\nreadonly AZP_X=1", reads: [], assigns: ["a", "b", "AZP_X"] },
    { script: 'log "AZP_Y=download is ignored"; AZP_Z+=1', reads: [], assigns: ["AZP_Z"] },
    { script: "printf -v AZP_P '%s' x; read -r AZP_R AZP_S <f; for AZP_I in 1; do :; done", reads: [], assigns: ["AZP_P", "AZP_R", "AZP_S", "AZP_I"] },
  ])("should find reads $reads and assignments $assigns in: $script", ({ script, reads, assigns }) => {
    expect([...referencedNames(script)].sort()).toEqual([...reads].sort());
    expect([...assignedNames(script)].sort()).toEqual([...assigns].sort());
  });
});
