import { PermanentError, poll } from "../../support/poll.ts";
import { run, runOk, type RunOptions, type RunResult } from "../../support/process.ts";

/**
 * The `docker` CLI, asynchronously (test/support/process.ts: never block the event loop the
 * in-process fake Azure DevOps runs on).
 */

/** Debian's client matches Debian's daemon (tools/docker-up.sh); DOCKER overrides. */
export const DOCKER: string = process.env["DOCKER"] ?? "/usr/bin/docker";

export function docker(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run(DOCKER, args, options);
}

/** `docker …` that must succeed; returns trimmed stdout. */
export function dockerOk(args: readonly string[], options: RunOptions = {}): Promise<string> {
  return runOk(DOCKER, args, options);
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

/** Waits for a container to stop; returns its exit code and how long the wait took. */
export async function waitForExit(name: string, timeoutMs: number): Promise<{ exitCode: number; waitedMs: number }> {
  const started = Date.now();
  const state = await poll(
    async () => {
      const s = await containerState(name);
      if (s === undefined) throw new PermanentError(`container ${name} does not exist`);
      return s.running ? undefined : s;
    },
    { what: `container ${name} to exit`, timeoutMs, intervalMs: 100 },
  );
  return { exitCode: state.exitCode, waitedMs: Date.now() - started };
}
