import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { caBundleEnvName, commandOf, envFor, imageContract, podMounts, type AuthMode, type EnvKey, type PodContainerKey } from "../../../generator/contract/image.ts";
import { contractEnvValue, type ValuesObject } from "../../../generator/model/contract-env.ts";
import { PermanentError, poll } from "../../support/poll.ts";
import type { RunResult } from "../../support/process.ts";
import { containerLogs, containerState, docker, dockerOk, waitForExit } from "./docker.ts";

/**
 * A Kubernetes pod of the chart, simulated with Docker: the same three containers started in the
 * pod's order (register → deregister → agent), each with the mounts (contract `podMounts`) and
 * environment variables (contract `envFor`, valued by generator/model/contract-env.ts) the chart gives it, emptyDirs as host directories,
 * the PAT Secret as a read-only directory, read-only root filesystems, and `--network host` so
 * that 127.0.0.1 is the in-process fake Azure DevOps. The projected ServiceAccount token is not
 * simulated here: tests that need one pass it in `dockerArgs` (support/fake-kube.ts).
 */

const { paths, sidecarFiles, volumes, env, commands, user } = imageContract;

/** Where the simulated emptyDirs live on the host (tests run as root, like the kubelet). */
const POD_VOLUMES_ROOT = join(tmpdir(), "azp-test-pods");

export type PodContainer = PodContainerKey;
const POD_CONTAINERS = Object.keys(imageContract.podMounts) as PodContainer[];

/** Volumes that are not emptyDirs: the credential Secret and the projected ServiceAccount tokens. */
const NOT_EMPTY_DIRS = new Set(["token", "serviceAccount", "federatedToken"]);

/** The pod's emptyDirs (contract volume names), in first-mount order. */
const EMPTY_DIRS: string[] = [...new Set(POD_CONTAINERS.flatMap((c) => podMounts(c).filter((m) => !NOT_EMPTY_DIRS.has(m.volume)).map((m) => m.name)))];

export interface PodOptions {
  image: string;
  /** Organization URL as the containers see it. */
  url: string;
  pool: string;
  /** Content of the PAT file (or the client secret); `undefined` = no Secret mounted at all. */
  token: string | undefined;
  /** `azp.auth` and the Entra identity, as the chart sets them; default `pat`. */
  auth?: { mode: AuthMode; tenantId?: string; clientId?: string; authorityHost?: string };
  /** Content of the projected federated token (workload identity); `undefined` = not mounted. */
  federatedToken?: string;
  /** Pod (and agent) name; default a random `azp-test-xxxx`. */
  name?: string;
  /** `<namespace>/<release>` the agent reports as its AZP_RELEASE capability; default `azp-test/azp-agent`. */
  release?: string;
  /** Extra environment per container (overrides the defaults, `undefined` removes one). */
  env?: Partial<Record<PodContainer, Record<string, string | undefined>>>;
  /** CA file mounted like the chart's `caBundle` (and named by SSL_CERT_FILE) in the containers that get it. */
  caFile?: string;
  /** Extra `docker run` arguments per container (e.g. mounting a fake ServiceAccount). */
  dockerArgs?: Partial<Record<PodContainer, string[]>>;
  /** Docker network of every container; default `host` (bench/image-startup.ts uses a shaped bridge). */
  network?: string;
  /** `docker run --platform linux/<platform>` for an image of another architecture (arm64.test.ts); default none. */
  platform?: string;
}

export class FakePod {
  readonly name: string;
  private readonly options: PodOptions;
  private readonly secretDir: string | undefined;
  private readonly federatedDir: string | undefined;
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
    if (options.federatedToken !== undefined) {
      // Like the kubelet's projected volume: a directory holding `token`, rewritten on rotation.
      this.federatedDir = mkdtempSync(join(tmpdir(), "azp-federated-"));
      chmodSync(this.federatedDir, 0o755);
      this.rotateFederatedToken(options.federatedToken);
    }
  }

  /** Replaces the federated token, as the kubelet does before it expires. */
  rotateFederatedToken(token: string): void {
    if (this.federatedDir === undefined) throw new Error("this pod mounts no federated token");
    const file = join(this.federatedDir, imageContract.federatedTokenFileName);
    writeFileSync(file, token);
    chmodSync(file, 0o444);
  }

  containerName(container: PodContainer): string {
    return `${this.name}-${container}`;
  }

  /** Host directory bind-mounted as the emptyDir `volume` (a contract volume name; see ensureVolumes). */
  volumeDir(volume: string): string {
    return join(POD_VOLUMES_ROOT, this.name, volume);
  }

  get release(): string {
    return this.options.release ?? "azp-test/azp-agent";
  }

  /** The chart values this pod stands for: the test's connection and identity, and quicker timings. */
  private values(): ValuesObject {
    const { mode = "pat", ...entra } = this.options.auth ?? {};
    return {
      azp: { url: this.options.url, pool: this.options.pool, auth: mode, entra },
      agent: { source: "baked", statusCheckSeconds: 5, connectAttempts: 3, removeRetrySeconds: 1 },
    };
  }

  /** This pod's value of a contract variable, as the chart sets it (generator/model/contract-env.ts); undefined = not set. */
  private envValue(key: EnvKey): string | undefined {
    return contractEnvValue(key, this.values(), { podName: this.name, namespace: "azp-test", release: this.release });
  }

  /** The environment the chart sets on a container (contract `envFor`), plus overrides. */
  environment(container: PodContainer): Record<string, string> {
    const base = Object.fromEntries(envFor(commandOf(container)).map((key) => [env[key].name, this.envValue(key)]));
    const merged = { ...base, ...(this.options.env?.[container] ?? {}) };
    return Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== undefined));
  }

  private runArgs(container: PodContainer, detach: boolean): string[] {
    const args = ["run", ...(detach ? ["--detach"] : []), "--name", this.containerName(container), "--network", this.options.network ?? "host", "--read-only"];
    args.push("--user", `${user.uid}:${user.gid}`, "--label", `azp-test-pod=${this.name}`);
    args.push(...platformArgs(this.options.platform));
    for (const m of podMounts(container)) {
      // The PAT only where the chart mounts it: never in the job container.
      if (m.volume === "token" && this.secretDir !== undefined) args.push("--volume", `${this.secretDir}:${m.mountPath}:ro`);
      if (m.volume === "federatedToken" && this.federatedDir !== undefined) args.push("--volume", `${this.federatedDir}:${m.mountPath}:ro`);
      if (!NOT_EMPTY_DIRS.has(m.volume)) args.push("--volume", `${this.volumeDir(m.name)}:${m.mountPath}${m.readOnly ? ":ro" : ""}`);
    }
    if (this.options.caFile !== undefined) {
      const file = `${paths.caBundle}/${imageContract.caBundleFileName}`;
      args.push("--volume", `${this.options.caFile}:${file}:ro`, "--env", `${caBundleEnvName}=${file}`);
    }
    for (const [key, value] of Object.entries(this.environment(container))) args.push("--env", `${key}=${value}`);
    args.push(...(this.options.dockerArgs?.[container] ?? []));
    args.push(this.options.image, commands[commandOf(container)]);
    return args;
  }

  /**
   * The pod's emptyDirs as the kubelet makes them: empty, owned by root, mode 0777 — not Docker
   * named volumes, which would copy the image directory and its owner into the volume and hide
   * bugs that only show in a cluster (e.g. restoring a mode on a directory one does not own).
   */
  private ensureVolumes(): Promise<void> {
    this.volumesReady ??= (async () => {
      for (const volume of EMPTY_DIRS) {
        mkdirSync(this.volumeDir(volume), { recursive: true });
        chmodSync(this.volumeDir(volume), 0o777);
      }
    })();
    return this.volumesReady;
  }

  /** Runs the register init container to completion. */
  async register(timeoutMs = 120_000): Promise<RunResult & { exitCode: number }> {
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
    await poll(async () => this.sidecarReady() || !(await this.running("deregister")), { what: "the deregister sidecar to find its agent", timeoutMs: 30_000 });
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

  /** Waits for a line of a container's log; stops at once when the container has exited without it. */
  async waitForLog(container: PodContainer, text: string | RegExp, timeoutMs = 60_000): Promise<string> {
    const name = this.containerName(container);
    return poll(
      async () => {
        // The state first: a container that had stopped before its logs were read logs no more.
        const stopped = !(await this.running(container));
        const logs = await this.logs(container);
        if (typeof text === "string" ? logs.includes(text) : text.test(logs)) return logs;
        if (stopped) throw new PermanentError(`${name} is not running and did not log ${String(text)}:\n${logs}`);
        return undefined;
      },
      { what: `${name} to log ${String(text)}`, timeoutMs, intervalMs: 250 },
    );
  }

  /** What the kubelet does when it stops a container (STOPSIGNAL). */
  async signal(container: PodContainer, signal = "TERM"): Promise<void> {
    await docker(["kill", "--signal", signal, this.containerName(container)]);
  }

  async waitForExit(container: PodContainer, timeoutMs = 60_000): Promise<{ exitCode: number; waitedMs: number }> {
    return waitForExit(this.containerName(container), timeoutMs);
  }

  /** The startupProbe's view: the sidecar's ready marker in its private /tmp. */
  sidecarReady(): boolean {
    return this.exists(join(this.volumeDir(volumes.registrarTmp), sidecarFiles.ready));
  }

  /** Whether a hint of the `state` volume exists (lstat: a symlink or FIFO counts, nothing is opened). */
  hint(file: string): boolean {
    return this.exists(join(this.volumeDir(volumes.state), file));
  }

  private exists(path: string): boolean {
    try {
      lstatSync(path);
      return true;
    } catch {
      return false;
    }
  }

  /** Runs a shell command as root over every emptyDir of the pod (mounted under /pod/<volume name>). */
  async inspectVolumes(script: string, input?: string): Promise<RunResult> {
    const args = ["run", "--rm", "--interactive", "--user", "0:0", ...platformArgs(this.options.platform)];
    for (const volume of EMPTY_DIRS) args.push("--volume", `${this.volumeDir(volume)}:/pod/${volume}:ro`);
    args.push("--entrypoint", "bash", this.options.image, "-c", script);
    return docker(args, { timeoutMs: 120_000, ...(input === undefined ? {} : { input }) });
  }

  /** Every container's logs, for failure reports. */
  async allLogs(): Promise<string> {
    const parts: string[] = [];
    for (const container of POD_CONTAINERS) {
      if (!this.started.has(container)) continue;
      parts.push(`----- ${this.containerName(container)} -----\n${await this.logs(container)}`);
    }
    return parts.join("\n");
  }

  async remove(): Promise<void> {
    await docker(["rm", "--force", "--volumes", ...POD_CONTAINERS.map((c) => this.containerName(c))]);
    rmSync(join(POD_VOLUMES_ROOT, this.name), { recursive: true, force: true });
    if (this.secretDir !== undefined) rmSync(this.secretDir, { recursive: true, force: true });
    if (this.federatedDir !== undefined) rmSync(this.federatedDir, { recursive: true, force: true });
  }
}

/** `--platform` for an image of another architecture; nothing for the engine's own. */
function platformArgs(platform: string | undefined): string[] {
  return platform === undefined ? [] : ["--platform", `linux/${platform}`];
}

export interface OneShotOptions {
  image: string;
  command: string;
  env: Record<string, string>;
  /** Content of the PAT file mounted at the contract's secrets directory; undefined = none. */
  token?: string;
  dockerArgs?: string[];
  /** Arguments of the command. */
  args?: string[];
  timeoutMs?: number;
  /** `docker run --platform linux/<platform>` (see PodOptions.platform); default none. */
  platform?: string;
}

/** Runs one command of the image to completion (smoke test pod, refresh job), read-only root. */
export async function runOneShot(options: OneShotOptions): Promise<RunResult> {
  const name = `azp-test-oneshot-${randomBytes(3).toString("hex")}`;
  let secretDir: string | undefined;
  const args = ["run", "--name", name, "--network", "host", "--read-only", "--tmpfs", `${paths.tmp}:rw,mode=1777`, "--user", `${user.uid}:${user.gid}`];
  args.push(...platformArgs(options.platform));
  if (options.token !== undefined) {
    secretDir = mkdtempSync(join(tmpdir(), "azp-secret-"));
    writeFileSync(join(secretDir, imageContract.tokenFileName), options.token);
    chmodSync(secretDir, 0o755);
    chmodSync(join(secretDir, imageContract.tokenFileName), 0o444);
    args.push("--volume", `${secretDir}:${paths.secrets}:ro`);
  }
  for (const [key, value] of Object.entries(options.env)) args.push("--env", `${key}=${value}`);
  args.push(...(options.dockerArgs ?? []), options.image, options.command, ...(options.args ?? []));
  try {
    return await docker(args, { timeoutMs: options.timeoutMs ?? 120_000 });
  } finally {
    await docker(["rm", "--force", name]);
    if (secretDir !== undefined) rmSync(secretDir, { recursive: true, force: true });
  }
}
