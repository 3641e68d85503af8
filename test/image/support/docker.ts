import { spawn } from "node:child_process";
import { REPO } from "../../support/repo.ts";

/**
 * Asynchronous `docker` CLI calls. Never spawnSync here: the fake Azure DevOps runs in this
 * process, and a blocked event loop would stall every container talking to it.
 */

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout then stderr, for assertion messages. */
  readonly output: string;
}

export interface ExecOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Runs a command to completion; a timeout kills it and rejects. */
export function exec(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: options.cwd ?? REPO, env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill("SIGKILL");
            reject(new Error(`${command} ${args.join(" ")} timed out after ${options.timeoutMs} ms\n${stdout}${stderr}`));
          }, options.timeoutMs);
    child.on("error", (error) => {
      if (timer) clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, output: `${stdout}${stderr}` });
    });
    // The child may exit without reading stdin (EPIPE): that is not an error of ours.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** Debian's client matches Debian's daemon (tools/docker-up.sh); DOCKER overrides. */
export const DOCKER: string = process.env["DOCKER"] ?? "/usr/bin/docker";

export function docker(args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return exec(DOCKER, args, options);
}

/** `docker …` that must succeed; returns trimmed stdout. */
export async function dockerOk(args: readonly string[], options: ExecOptions = {}): Promise<string> {
  const r = await docker(args, options);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed (${r.code}):\n${r.output}`);
  return r.stdout.trim();
}

export interface ContainerState {
  readonly running: boolean;
  readonly exitCode: number;
  readonly startedAt: string;
  readonly finishedAt: string;
}

export async function containerState(name: string): Promise<ContainerState | undefined> {
  const r = await docker(["inspect", "--format", "{{json .State}}", name]);
  if (r.code !== 0) return undefined;
  const state = JSON.parse(r.stdout) as { Running: boolean; ExitCode: number; StartedAt: string; FinishedAt: string };
  return { running: state.Running, exitCode: state.ExitCode, startedAt: state.StartedAt, finishedAt: state.FinishedAt };
}

export async function containerLogs(name: string): Promise<string> {
  const r = await docker(["logs", "--timestamps", name]);
  return r.code === 0 ? r.output : `(no logs for ${name}: ${r.output.trim()})`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every `intervalMs` until it returns a truthy value; rejects after `timeoutMs`. */
export async function waitUntil<T>(probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, what: string, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Waits for a container to stop; returns its exit code and how long the wait took. */
export async function waitForExit(name: string, timeoutMs: number): Promise<{ exitCode: number; waitedMs: number }> {
  const started = Date.now();
  const state = await waitUntil(
    async () => {
      const s = await containerState(name);
      if (s === undefined) throw new Error(`container ${name} does not exist`);
      return s.running ? undefined : s;
    },
    `container ${name} to exit`,
    timeoutMs,
    100,
  );
  return { exitCode: state.exitCode, waitedMs: Date.now() - started };
}
