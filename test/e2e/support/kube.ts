import { PermanentError, poll } from "../../support/poll.ts";
import { run, type RunResult } from "../../support/process.ts";
import type { E2eEnv } from "./env.ts";

/** Thin wrappers over the real kubectl and helm binaries, plus condition waits (no fixed sleeps). */

/** How long one kubectl or helm call may take. */
const CALL_TIMEOUT_MS = 600_000;

export class Kube {
  constructor(readonly env: E2eEnv) {}

  private get processEnv(): NodeJS.ProcessEnv {
    return { ...process.env, KUBECONFIG: this.env.kubeconfig };
  }

  kubectl(args: string[], input?: string): Promise<RunResult> {
    return run(this.env.kubectl, args, { env: this.processEnv, timeoutMs: CALL_TIMEOUT_MS, ...(input === undefined ? {} : { input }) });
  }

  async ok(args: string[], input?: string): Promise<string> {
    const r = await this.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${r.code}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  async json<T>(args: string[]): Promise<T> {
    return JSON.parse(await this.ok([...args, "-o", "json"])) as T;
  }

  /**
   * One object as JSON (`kubectl get <kind> <name>`). An object that is gone (NotFound) or that we
   * may not read (Forbidden, Unauthorized) throws a PermanentError: a wait on it stops at once,
   * since waiting does not bring it back.
   */
  async object<T>(namespace: string, kind: string, name: string): Promise<T> {
    const args = ["-n", namespace, "get", kind, name, "-o", "json"];
    const r = await this.kubectl(args);
    if (r.code === 0) return JSON.parse(r.stdout) as T;
    const message = `kubectl ${args.join(" ")} exited ${r.code}\n${r.output}`;
    throw /\((NotFound|Forbidden|Unauthorized)\)/.test(r.stderr) ? new PermanentError(message) : new Error(message);
  }

  helm(args: string[]): Promise<RunResult> {
    return run(this.env.helm, args, { env: this.processEnv, timeoutMs: CALL_TIMEOUT_MS });
  }

  async helmOk(args: string[]): Promise<string> {
    const r = await this.helm(args);
    if (r.code !== 0) throw new Error(`helm ${args.join(" ")} exited ${r.code}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  async pods(namespace: string, selector: string): Promise<PodInfo[]> {
    const list = await this.json<{ items: RawPod[] }>(["-n", namespace, "get", "pods", "-l", selector]);
    return list.items.map(podInfo);
  }

  /** Pod logs, events and states of a namespace: what a person needs when a scenario fails. */
  async diagnostics(namespace: string): Promise<string> {
    const parts: string[] = [];
    const section = async (title: string, args: string[]): Promise<void> => {
      const r = await this.kubectl(args);
      parts.push(`----- ${title}\n${r.stdout}${r.stderr}`);
    };
    await section(`pods in ${namespace}`, ["-n", namespace, "get", "pods", "-o", "wide"]);
    parts.push(`----- container states in ${namespace}\n${await this.containerStates(namespace)}`);
    await section(`events in ${namespace}`, ["-n", namespace, "get", "events", "--sort-by=.lastTimestamp"]);
    const pods = await this.kubectl(["-n", namespace, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}"]);
    for (const pod of pods.stdout.split(/\s+/).filter(Boolean)) {
      await section(`logs ${pod}`, ["-n", namespace, "logs", pod, "--all-containers", "--prefix", "--tail=80"]);
    }
    return parts.join("\n");
  }

  /** One line per pod: phase, deletion, and every container's state (init, sidecar, main). */
  async containerStates(namespace: string): Promise<string> {
    const r = await this.kubectl(["-n", namespace, "get", "pods", "-o", "json"]);
    if (r.code !== 0) return r.stderr;
    const list = JSON.parse(r.stdout) as { items: RawPod[] };
    return list.items.map(describePod).join("\n");
  }
}

type RawContainerStatus = { name: string; ready: boolean; restartCount: number; started?: boolean; state?: Record<string, { reason?: string; exitCode?: number; startedAt?: string; finishedAt?: string }> };

function describeContainer(c: RawContainerStatus): string {
  const [state, detail] = Object.entries(c.state ?? {})[0] ?? ["unknown", {}];
  const bits = [detail.reason, detail.exitCode === undefined ? undefined : `exit ${detail.exitCode}`, detail.finishedAt ?? detail.startedAt].filter(Boolean);
  return `${c.name}=${state}${bits.length > 0 ? `(${bits.join(", ")})` : ""}${c.restartCount > 0 ? ` restarts=${c.restartCount}` : ""}`;
}

function describePod(p: RawPod): string {
  const deleting = p.metadata.deletionTimestamp === undefined ? "" : ` deleting since ${p.metadata.deletionTimestamp}`;
  const containers = [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])].map(describeContainer);
  return `${p.metadata.name} ${p.status.phase}${deleting}: ${containers.join(" ")}`;
}

interface RawPod {
  metadata: { name: string; creationTimestamp: string; deletionTimestamp?: string; labels?: Record<string, string> };
  status: {
    phase: string;
    containerStatuses?: RawContainerStatus[];
    initContainerStatuses?: RawContainerStatus[];
  };
}

export interface PodInfo {
  readonly name: string;
  readonly phase: string;
  readonly terminating: boolean;
  readonly created: string;
  /** Every main container and native sidecar ready. */
  readonly ready: boolean;
  readonly restarts: number;
}

function podInfo(p: RawPod): PodInfo {
  const main = p.status.containerStatuses ?? [];
  const init = p.status.initContainerStatuses ?? [];
  return {
    name: p.metadata.name,
    phase: p.status.phase,
    terminating: p.metadata.deletionTimestamp !== undefined,
    created: p.metadata.creationTimestamp,
    ready: main.length > 0 && main.every((c) => c.ready),
    restarts: [...main, ...init].reduce((n, c) => n + c.restartCount, 0),
  };
}

/**
 * Polls `probe` (kubectl errors are retried: the API server may be busy) until it returns a value
 * other than undefined, null or false; fails with `what` and the last error.
 */
export function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 180_000, intervalMs = 1000): Promise<T> {
  return poll(probe, { what, timeoutMs, intervalMs });
}
