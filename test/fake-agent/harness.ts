// Builds the fake agent package and drives its scripts (config.sh / run.sh) from tests, the way
// an entrypoint would: extract the tarball into a directory, then run the scripts in it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { run, start, type RunningProcess, type RunResult } from "../support/process.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
export const BUILD_PACKAGE_SCRIPT = join(HERE, "build-package.sh");

export interface BuildPackageOptions {
  /** @default "4.264.2" */
  version?: string;
  /** @default "linux-x64" */
  platform?: string;
  /** Incompressible filler in MiB (benchmarks). @default 0 */
  padMb?: number;
}

/** Runs build-package.sh; returns the absolute path of the tarball. */
export async function buildFakeAgentPackage(out: string, options: BuildPackageOptions = {}): Promise<string> {
  const args = [resolve(out), "--version", options.version ?? "4.264.2", "--platform", options.platform ?? "linux-x64", "--pad-mb", String(options.padMb ?? 0)];
  const result = await run(BUILD_PACKAGE_SCRIPT, args, { timeoutMs: 300_000 });
  if (result.code !== 0) throw new Error(`build-package.sh failed (${result.code}): ${result.output}`);
  return resolve(out);
}

/** `tar -xzf` into `dir`, as start.sh does with `curl ... | tar -xz`. */
export async function extractPackage(tarball: string, dir: string): Promise<void> {
  const result = await run("tar", ["-xzf", tarball, "-C", dir]);
  if (result.code !== 0) throw new Error(`tar failed: ${result.stderr}`);
}

export async function makeTempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Environment for the agent scripts: the caller's, plus AGENT_ALLOW_RUNASROOT=1 (tests run as
 * root, like start.sh) and short retry/cancel timings so tests stay fast.
 */
export function agentEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AGENT_ALLOW_RUNASROOT: "1",
    FAKE_AGENT_RETRY_SECONDS: "1",
    FAKE_AGENT_SESSION_CONFLICT_TIMEOUT_SECONDS: "3",
    FAKE_AGENT_CANCEL_SIGINT_SECONDS: "2",
    FAKE_AGENT_CANCEL_SIGTERM_SECONDS: "2",
  };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Starts `<dir>/<script> args...` (or an absolute command) with cwd `dir`. */
export function startAgentScript(dir: string, script: string, args: readonly string[], env: NodeJS.ProcessEnv = agentEnv()): RunningProcess {
  const command = isAbsolute(script) ? script : join(dir, script);
  // detached: its own process group, which signal() addresses as a terminal's Ctrl-C does (the
  // real run.sh traps nothing and runs the listener in the foreground: only the group reaches it).
  return start(command, args, { cwd: dir, env, detached: true });
}

export function runAgentScript(dir: string, script: string, args: readonly string[], env: NodeJS.ProcessEnv = agentEnv()): Promise<RunResult> {
  return startAgentScript(dir, script, args, env).exited;
}

/** `./config.sh --unattended ...` with the flags start.sh passes (§6). */
export function configArgs(options: { url: string; token: string; pool: string; agent: string; replace?: boolean; work?: string }): string[] {
  return [
    "--unattended",
    "--agent",
    options.agent,
    "--url",
    options.url,
    "--auth",
    "PAT",
    "--token",
    options.token,
    "--pool",
    options.pool,
    "--work",
    options.work ?? "_work",
    ...(options.replace === false ? [] : ["--replace"]),
    "--acceptTeeEula",
  ];
}
