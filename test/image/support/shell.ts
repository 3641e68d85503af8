import { existsSync } from "node:fs";
import { run, type RunResult } from "../../support/process.ts";
import { repoPath } from "../../support/repo.ts";

/** The image's commands and libraries in the source tree (what the Dockerfile installs). */
export const IMAGE_DIR: string = repoPath("agent-image");
export const COMMANDS = ["azp-register", "azp-deregister", "azp-run", "azp-refresh", "azp-smoke"] as const;
export type CommandFile = (typeof COMMANDS)[number];
export const commandPath = (command: CommandFile): string => repoPath("agent-image", "bin", command);
export const libPath = (lib: "common" | "ado" | "kube"): string => repoPath("agent-image", "lib", `${lib}.sh`);

/** Single-quotes a value for bash. */
export const q = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `script` in a fresh bash after sourcing `sources` (a command or a library): the way the
 * commands' functions are unit-tested. The commands' guard keeps their main from running.
 */
export function bashWith(sources: readonly string[], script: string, env: Record<string, string> = {}): Promise<RunResult> {
  const prelude = sources.map((file) => `source ${q(file)}`).join("\n");
  return run("bash", ["-c", `${prelude}\n${script}`], { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: process.env["HOME"] ?? "/root", ...env } });
}

/** shellcheck from PATH, installed from Debian when missing (the image tests' setup). */
export async function ensureShellcheck(): Promise<string> {
  if ((await run("bash", ["-c", "command -v shellcheck"])).code === 0) return "shellcheck";
  if (!existsSync("/usr/bin/apt-get")) throw new Error("shellcheck is missing and apt-get is not available: install ShellCheck");
  const install = await run("bash", ["-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck)"], { timeoutMs: 600_000 });
  if (install.code !== 0) throw new Error(`apt-get install shellcheck failed:\n${install.output}`);
  return "shellcheck";
}
