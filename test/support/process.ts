import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { poll, PermanentError } from "./poll.ts";
import { REPO } from "./repo.ts";

/**
 * The one way tests and benchmarks run a process: to completion (run, runOk, runSync) or in the
 * background (start). Prefer the asynchronous forms: the fake Azure DevOps runs in the test's
 * own process, and a blocked event loop stalls every container talking to it. runSync is for
 * callers that cannot await (a rendering computed while vitest collects the tests).
 */

export interface RunResult {
  /** The exit code; 128 + the signal's number when a signal ended it (as a shell reports it). */
  readonly code: number;
  /** The signal that ended it, if one did. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout then stderr, for assertion messages. */
  readonly output: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed (default: an empty stdin). */
  readonly input?: string;
  /** @default the repository root */
  readonly cwd?: string;
  /** The whole environment (not added to this process's). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Kills the process (SIGKILL) and rejects after this long. @default none */
  readonly timeoutMs?: number;
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0));
}

function result(code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): RunResult {
  return { code: exitCode(code, signal), signal, stdout, stderr, output: `${stdout}${stderr}` };
}

const describeCommand = (command: string, args: readonly string[]): string => [command, ...args].join(" ");

/** Runs a command to completion; rejects when it cannot be started or runs past `timeoutMs`. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
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
            reject(new Error(`${describeCommand(command, args)} timed out after ${options.timeoutMs} ms\n${stdout}${stderr}`));
          }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve(result(code, signal, stdout, stderr));
    });
    // The child may exit without reading stdin (EPIPE): that is not an error of ours.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** A command that must succeed: its stdout, trimmed; throws with its output otherwise. */
export async function runOk(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const r = await run(command, args, options);
  if (r.code !== 0) throw new Error(`${describeCommand(command, args)} exited ${r.code}:\n${r.output}`);
  return r.stdout.trim();
}

/** run(), blocking (see the module's comment); `inherit` passes the terminal through instead of capturing. */
export function runSync(command: string, args: readonly string[], options: RunOptions & { readonly inherit?: boolean } = {}): RunResult {
  const r = spawnSync(command, [...args], {
    cwd: options.cwd ?? REPO,
    env: options.env ?? process.env,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    stdio: options.inherit === true ? "inherit" : "pipe",
    ...(options.input === undefined ? {} : { input: options.input }),
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs, killSignal: "SIGKILL" as const }),
  });
  if (r.error) throw r.error;
  return result(r.status, r.signal, r.stdout ?? "", r.stderr ?? "");
}

export interface StartOptions extends Omit<RunOptions, "input" | "timeoutMs"> {
  /** Its own process group, which signal() then addresses. @default false */
  readonly detached?: boolean;
}

/** A process running in the background, with its output so far. */
export class RunningProcess {
  readonly child: ChildProcess;
  /** Settles when it has exited (never rejects once started). */
  readonly exited: Promise<RunResult>;
  stdout = "";
  stderr = "";
  private hasExited = false;

  private readonly detached: boolean;

  constructor(child: ChildProcess, detached = false) {
    this.child = child;
    this.detached = detached;
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (this.stdout += chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => {
        this.hasExited = true;
        resolve(result(code, signal, this.stdout, this.stderr));
      });
    });
    // A failed start also rejects `exited`; whoever awaits it sees the error.
    this.exited.catch(() => undefined);
  }

  /** stdout then stderr so far. */
  get output(): string {
    return `${this.stdout}${this.stderr}`;
  }

  /** Resolves with the first match in stdout+stderr; rejects at once if the process exits first. */
  waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    return poll(
      () => {
        const exited = this.hasExited;
        const match = pattern.exec(this.output);
        if (match === null && exited) throw new PermanentError(`the process exited before its output matched ${String(pattern)}:\n${this.stdout}\n${this.stderr}`);
        return match;
      },
      { what: () => `output matching ${String(pattern)}:\n${this.stdout}\n${this.stderr}`, timeoutMs, intervalMs: 25 },
    );
  }

  /**
   * Sends `signal` to the process, or, when it was started `detached`, to its whole process group
   * as a terminal's Ctrl-C does (a script that runs its work in the foreground passes nothing on).
   */
  signal(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      if (this.detached) process.kill(-this.child.pid, signal);
      else this.child.kill(signal);
    } catch {
      // already gone
    }
  }

  /** Signals it (SIGTERM) and waits for its exit; safe to call more than once. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<RunResult> {
    this.signal(signal);
    return this.exited;
  }
}

/** Starts a command in the background (stdin closed, stdout and stderr collected). */
export function start(command: string, args: readonly string[], options: StartOptions = {}): RunningProcess {
  const detached = options.detached ?? false;
  return new RunningProcess(spawn(command, [...args], { cwd: options.cwd ?? REPO, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached }), detached);
}
