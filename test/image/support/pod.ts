import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { imageContract, tokenFilePath } from "../../../generator/contract/image.ts";
import { containerLogs, containerState, docker, dockerOk, waitForExit, waitUntil, type ExecResult } from "./docker.ts";

/**
 * A Kubernetes pod of the chart, simulated with Docker: the same three containers started in the
 * pod's order (register → deregister → agent), each with the mounts and environment the chart
 * gives it, emptyDirs as Docker volumes, the PAT Secret as a read-only directory mounted only
 * into register and deregister, read-only root filesystems, and `--network host` so that
 * 127.0.0.1 is the in-process fake Azure DevOps.
 */

const { paths, stateFiles, env, commands, user } = imageContract;

/** Where the simulated emptyDirs live on the host (tests run as root, like the kubelet). */
const POD_VOLUMES_ROOT = join(tmpdir(), "azp-test-pods");

export type PodContainer = "register" | "deregister" | "agent";
type VolumeKey = "agent" | "work" | "state" | "home" | "tmp";

/** Mount points of the emptyDirs, per container (what the chart is to mount). */
const MOUNTS: Record<PodContainer, readonly VolumeKey[]> = {
  register: ["agent", "state", "tmp"],
  deregister: ["state", "tmp"],
  agent: ["agent", "work", "state", "home", "tmp"],
};

const MOUNT_PATH: Record<VolumeKey, string> = {
  agent: paths.agentHome,
  work: paths.work,
  state: paths.state,
  home: paths.home,
  tmp: paths.tmp,
};

export interface PodOptions {
  image: string;
  /** Organization URL as the containers see it. */
  url: string;
  pool: string;
  /** Content of the PAT file; `undefined` = no Secret mounted at all. */
  token: string | undefined;
  /** Pod (and agent) name; default a random `azp-test-xxxx`. */
  name?: string;
  /** `<namespace>/<release>` the agent reports as its AZP_RELEASE capability; default `azp-test/azp-agent`. */
  release?: string;
  /** Extra environment per container (overrides the defaults, `undefined` removes one). */
  env?: Partial<Record<PodContainer, Record<string, string | undefined>>>;
  /** Extra `docker run` arguments per container (e.g. mounting a fake ServiceAccount). */
  dockerArgs?: Partial<Record<PodContainer, string[]>>;
}

export class FakePod {
  readonly name: string;
  private readonly options: PodOptions;
  private readonly secretDir: string | undefined;
  private readonly started = new Set<PodContainer>();
  private volumesReady: Promise<void> | undefined;

  constructor(options: PodOptions) {
    this.options = options;
    this.name = options.name ?? `azp-test-${randomBytes(3).toString("hex")}`;
    if (options.token !== undefined) {
      // Like a Secret volume: a directory holding `token`, readable by the agent user.
      this.secretDir = mkdtempSync(join(tmpdir(), "azp-secret-"));
      const file = join(this.secretDir, imageContract.tokenFileName);
      writeFileSync(file, options.token);
      chmodSync(this.secretDir, 0o755);
      chmodSync(file, 0o444);
    }
  }

  containerName(container: PodContainer): string {
    return `${this.name}-${container}`;
  }

  /** Host directory bind-mounted as the volume (see ensureVolumes). */
  volumeName(volume: VolumeKey): string {
    return join(POD_VOLUMES_ROOT, this.name, volume);
  }

  /** The environment the chart sets on a container (contract `reads`), plus overrides. */
  get release(): string {
    return this.options.release ?? "azp-test/azp-agent";
  }

  environment(container: PodContainer): Record<string, string> {
    const base: Record<string, string | undefined> =
      container === "register"
        ? {
            [env.url.name]: this.options.url,
            [env.pool.name]: this.options.pool,
            [env.tokenFile.name]: tokenFilePath,
            [env.agentName.name]: this.name,
            [env.release.name]: this.release,
            [env.work.name]: paths.work,
            [env.agentSource.name]: "baked",
            [env.connectAttempts.name]: "3",
          }
        : container === "deregister"
          ? {
              [env.url.name]: this.options.url,
              [env.tokenFile.name]: tokenFilePath,
              [env.podName.name]: this.name,
              [env.podNamespace.name]: "azp-test",
              [env.retrySeconds.name]: "1",
            }
          : { [env.release.name]: this.release, [env.work.name]: paths.work };
    const merged = { ...base, ...(this.options.env?.[container] ?? {}) };
    return Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== undefined));
  }

  private runArgs(container: PodContainer, detach: boolean): string[] {
    const args = ["run", ...(detach ? ["--detach"] : []), "--name", this.containerName(container), "--network", "host", "--read-only"];
    args.push("--user", `${user.uid}:${user.gid}`, "--label", `azp-test-pod=${this.name}`);
    for (const volume of MOUNTS[container]) args.push("--volume", `${this.volumeName(volume)}:${MOUNT_PATH[volume]}`);
    // The PAT only where the chart mounts it: never in the job container.
    if (this.secretDir !== undefined && container !== "agent") args.push("--volume", `${this.secretDir}:${paths.secrets}:ro`);
    for (const [key, value] of Object.entries(this.environment(container))) args.push("--env", `${key}=${value}`);
    args.push(...(this.options.dockerArgs?.[container] ?? []));
    args.push(this.options.image, commands[container === "agent" ? "run" : container]);
    return args;
  }

  /**
   * The pod's emptyDirs as the kubelet makes them: empty, owned by root, mode 0777 — not Docker
   * named volumes, which would copy the image directory and its owner into the volume and hide
   * bugs that only show in a cluster (e.g. restoring a mode on a directory one does not own).
   */
  private ensureVolumes(): Promise<void> {
    this.volumesReady ??= (async () => {
      for (const volume of ["agent", "work", "state", "home", "tmp"] as const) {
        mkdirSync(this.volumeName(volume), { recursive: true });
        chmodSync(this.volumeName(volume), 0o777);
      }
    })();
    return this.volumesReady;
  }

  /** Runs the register init container to completion. */
  async register(timeoutMs = 120_000): Promise<ExecResult & { exitCode: number }> {
    await this.ensureVolumes();
    this.started.add("register");
    const r = await docker(this.runArgs("register", false), { timeoutMs });
    return { ...r, exitCode: r.code };
  }

  /** Starts the deregister sidecar and waits until its snapshot is taken. */
  async startDeregister(): Promise<void> {
    await this.ensureVolumes();
    this.started.add("deregister");
    await dockerOk(this.runArgs("deregister", true));
    await waitUntil(async () => (await this.stateFile(imageContract.stateFiles.deregisterReady)) !== undefined || !(await this.running("deregister")), "the deregister sidecar's snapshot", 30_000);
  }

  async startAgent(): Promise<void> {
    await this.ensureVolumes();
    this.started.add("agent");
    await dockerOk(this.runArgs("agent", true));
  }

  /** register → deregister → agent, as the kubelet starts them; throws if register fails. */
  async start(): Promise<void> {
    const r = await this.register();
    if (r.exitCode !== 0) throw new Error(`register exited ${r.exitCode}:\n${r.output}`);
    await this.startDeregister();
    await this.startAgent();
  }

  async running(container: PodContainer): Promise<boolean> {
    return (await containerState(this.containerName(container)))?.running ?? false;
  }

  async logs(container: PodContainer): Promise<string> {
    return containerLogs(this.containerName(container));
  }

  async waitForLog(container: PodContainer, text: string | RegExp, timeoutMs = 60_000): Promise<string> {
    return waitUntil(
      async () => {
        const logs = await this.logs(container);
        return (typeof text === "string" ? logs.includes(text) : text.test(logs)) ? logs : undefined;
      },
      `${this.containerName(container)} to log ${String(text)}`,
      timeoutMs,
      250,
    );
  }

  /** What the kubelet does when it stops a container (STOPSIGNAL). */
  async signal(container: PodContainer, signal = "TERM"): Promise<void> {
    await docker(["kill", "--signal", signal, this.containerName(container)]);
  }

  async waitForExit(container: PodContainer, timeoutMs = 60_000): Promise<{ exitCode: number; waitedMs: number }> {
    return waitForExit(this.containerName(container), timeoutMs);
  }

  /** A file of the `state` volume, read through a throw-away container; undefined if absent. */
  async stateFile(file: string): Promise<string | undefined> {
    const r = await docker(["run", "--rm", "--volume", `${this.volumeName("state")}:/state:ro`, "--entrypoint", "cat", this.options.image, `/state/${file}`]);
    return r.code === 0 ? r.stdout : undefined;
  }

  /** Runs a shell command as root over every volume of the pod (mounted under /pod/<volume>). */
  async inspectVolumes(script: string, input?: string): Promise<ExecResult> {
    const args = ["run", "--rm", "--interactive", "--user", "0:0"];
    for (const volume of ["agent", "work", "state", "home", "tmp"] as const) args.push("--volume", `${this.volumeName(volume)}:/pod/${volume}:ro`);
    args.push("--entrypoint", "bash", this.options.image, "-c", script);
    return docker(args, { timeoutMs: 120_000, ...(input === undefined ? {} : { input }) });
  }

  /** Every container's logs, for failure reports. */
  async allLogs(): Promise<string> {
    const parts: string[] = [];
    for (const container of ["register", "deregister", "agent"] as const) {
      if (!this.started.has(container)) continue;
      parts.push(`----- ${this.containerName(container)} -----\n${await this.logs(container)}`);
    }
    return parts.join("\n");
  }

  async remove(): Promise<void> {
    const containers = (["register", "deregister", "agent"] as const).map((c) => this.containerName(c));
    await docker(["rm", "--force", "--volumes", ...containers]);
    rmSync(join(POD_VOLUMES_ROOT, this.name), { recursive: true, force: true });
    if (this.secretDir !== undefined) rmSync(this.secretDir, { recursive: true, force: true });
  }
}

export const STATE_FILES = stateFiles;

export interface OneShotOptions {
  image: string;
  command: string;
  env: Record<string, string>;
  /** Content of the PAT file mounted at the contract's secrets directory; undefined = none. */
  token?: string;
  dockerArgs?: string[];
  timeoutMs?: number;
}

/** Runs one command of the image to completion (smoke test pod, refresh job), read-only root. */
export async function runOneShot(options: OneShotOptions): Promise<ExecResult> {
  const name = `azp-test-oneshot-${randomBytes(3).toString("hex")}`;
  let secretDir: string | undefined;
  const args = ["run", "--name", name, "--network", "host", "--read-only", "--tmpfs", `${paths.tmp}:rw,mode=1777`, "--user", `${user.uid}:${user.gid}`];
  if (options.token !== undefined) {
    secretDir = mkdtempSync(join(tmpdir(), "azp-secret-"));
    writeFileSync(join(secretDir, imageContract.tokenFileName), options.token);
    chmodSync(secretDir, 0o755);
    chmodSync(join(secretDir, imageContract.tokenFileName), 0o444);
    args.push("--volume", `${secretDir}:${paths.secrets}:ro`);
  }
  for (const [key, value] of Object.entries(options.env)) args.push("--env", `${key}=${value}`);
  args.push(...(options.dockerArgs ?? []), options.image, options.command);
  try {
    return await docker(args, { timeoutMs: options.timeoutMs ?? 120_000 });
  } finally {
    await docker(["rm", "--force", name]);
    if (secretDir !== undefined) rmSync(secretDir, { recursive: true, force: true });
  }
}
