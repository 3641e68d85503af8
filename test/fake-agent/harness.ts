// Builds the fake agent package and drives its scripts (config.sh / run.sh) from tests, the way
// an entrypoint would: extract the tarball into a directory, then run the scripts in it.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<ProcessResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolvePromise, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}

/** Runs build-package.sh; returns the absolute path of the tarball. */
export async function buildFakeAgentPackage(out: string, options: BuildPackageOptions = {}): Promise<string> {
  const args = [resolve(out), "--version", options.version ?? "4.264.2", "--platform", options.platform ?? "linux-x64", "--pad-mb", String(options.padMb ?? 0)];
  const result = await collect(spawn(BUILD_PACKAGE_SCRIPT, args, { stdio: ["ignore", "pipe", "pipe"] }));
  if (result.code !== 0) throw new Error(`build-package.sh failed (${String(result.code)}): ${result.stderr}`);
  return resolve(out);
}

/** `tar -xzf` into `dir`, as start.sh does with `curl ... | tar -xz`. */
export async function extractPackage(tarball: string, dir: string): Promise<void> {
  const result = await collect(spawn("tar", ["-xzf", tarball, "-C", dir], { stdio: ["ignore", "pipe", "pipe"] }));
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

/** A running agent script with its output so far. */
export class AgentProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ProcessResult>;
  stdout = "";
  stderr = "";

  constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (this.stdout += chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolvePromise, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => resolvePromise({ code, signal, stdout: this.stdout, stderr: this.stderr }));
    });
  }

  /** Resolves once stdout+stderr match; rejects on timeout or if the process exits first. */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (!pattern.test(this.stdout + this.stderr)) {
      if (exited) throw new Error(`process exited before output matched ${String(pattern)}:\n${this.stdout}\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(pattern)}:\n${this.stdout}\n${this.stderr}`);
      await new Promise((resolveSleep) => setTimeout(resolveSleep, 25));
    }
  }

  /**
   * Signals the script's whole process group, as a terminal's Ctrl-C does: the real run.sh traps
   * nothing and runs the listener in the foreground, so only the group reaches the listener.
   */
  signal(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Starts `<dir>/<script> args...` (or an absolute command) with cwd `dir`. */
export function startAgentScript(dir: string, script: string, args: readonly string[], env: NodeJS.ProcessEnv = agentEnv()): AgentProcess {
  const command = isAbsolute(script) ? script : join(dir, script);
  // detached: its own process group, which signal() addresses.
  return new AgentProcess(spawn(command, [...args], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"], detached: true }));
}

export function runAgentScript(dir: string, script: string, args: readonly string[], env: NodeJS.ProcessEnv = agentEnv()): Promise<ProcessResult> {
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
