import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import yaml from "js-yaml";
import { imageContract } from "../../../generator/contract/image.ts";
import { release } from "../../../generator/contract/release.ts";
import { component } from "../../../generator/contract/components.ts";
import type { FakeAdo, FakeAdoOptions } from "../../fake-ado/server.ts";
import { agentPackage, buildTestImage, ensureDocker, startFake } from "../../image/support/environment.ts";
import { makeTestTls, type TestTls } from "../../support/test-tls.ts";
import { dockerOk } from "../../image/support/docker.ts";
import { deepMerge } from "../../support/merge.ts";
import { runOk } from "../../support/process.ts";
import { e2eEnv, type E2eEnv } from "./env.ts";
import { Kube, waitFor, type PodInfo } from "./kube.ts";
import { testPools } from "../../fake-ado/test-pools.ts";

/**
 * The e2e stack: the fake Azure DevOps on this host (reachable from pods), the agent image and
 * the chart published to the OCI registry the cluster pulls from, and releases installed from
 * there with `helm install oci://…` and a team's values file — as users do.
 */

export const E2E_PAT = `azpe2epat${randomBytes(10).toString("hex")}`;
export const E2E_POOL = testPools.agents;

export interface Stack {
  readonly env: E2eEnv;
  readonly kube: Kube;
  readonly fake: FakeAdo;
  /** Organization URL as pods reach it. */
  readonly adoUrl: string;
  readonly imageRepository: string;
  readonly imageTag: string;
  /** `oci://<registry>/charts/azp-agent` */
  readonly chartRef: string;
  readonly workDir: string;
  /** Certificate of the fake's https listener (package downloads), for the chart's caBundle. */
  readonly tls: TestTls;
}

export async function startStack(extraPools: string[] = [], fakeOptions: FakeAdoOptions = {}): Promise<Stack> {
  const env = e2eEnv();
  const kube = new Kube(env);
  await ensureDocker();
  const pkg = await agentPackage();
  // 0.0.0.0: pods reach it through the address test/cluster (or E2E_HOST_FOR_PODS) names.
  const tls = makeTestTls([env.hostForPods, "127.0.0.1"]);
  const fake = await startFake(pkg, { host: "0.0.0.0", pats: [E2E_PAT], pools: [E2E_POOL, ...extraPools], messageHoldMs: 1000, tls: { key: tls.key, cert: tls.cert }, ...fakeOptions });
  const workDir = join(env.repo, ".cache", "e2e");
  mkdirSync(workDir, { recursive: true });

  const built = await buildTestImage(fake, pkg);
  const imageRepository = `${env.registry}/azp-agent`;
  const imageTag = built.split(":").pop()!;
  await dockerOk(["tag", built, `${imageRepository}:${imageTag}`]);
  await dockerOk(["push", `${imageRepository}:${imageTag}`], { timeoutMs: 600_000 });

  const plain = env.registryPlainHttp ? ["--plain-http"] : [];
  const chartDir = join(workDir, "chart");
  mkdirSync(chartDir, { recursive: true });
  await runOk(env.helm, ["package", join(env.repo, "chart", release.chartName), "--destination", chartDir]);
  const tgz = readdirSync(chartDir).find((f) => f === `${release.chartName}-${release.chartVersion}.tgz`);
  if (tgz === undefined) throw new Error(`helm package did not write ${release.chartName}-${release.chartVersion}.tgz`);
  await runOk(env.helm, ["push", join(chartDir, tgz), `oci://${env.registry}/charts`, ...plain]);

  return {
    env,
    kube,
    fake,
    adoUrl: `http://${env.hostForPods}:${fake.port}/${fake.org}`,
    imageRepository,
    imageTag,
    chartRef: `oci://${env.registry}/charts/${release.chartName}`,
    workDir,
    tls,
  };
}

/** The id of a pool of the fake (the e2e pool by default); throws when the fake has none. */
export function poolIdOf(stack: Stack, name = E2E_POOL): number {
  const id = stack.fake.state().pools.find((p) => p.name === name)?.id;
  if (id === undefined) throw new Error(`fake has no pool ${name}`);
  return id;
}

/** A ConfigMap holding the fake's certificate under `key`, for the chart's caBundle. */
export async function createCaConfigMap(stack: Stack, namespace: string, name: string, key: string): Promise<void> {
  await stack.kube.ok(["-n", namespace, "create", "configmap", name, `--from-file=${key}=${stack.tls.certFile}`]);
}

/**
 * `networkPolicy` destinations that let a release work against this stack where NetworkPolicy
 * is enforced (the local cluster runs kube-router's policy controller): Azure DevOps is the fake
 * on this host (both its ports), the API server is the `kubernetes` Service's endpoint (policies
 * see the address after kube-proxy's DNAT).
 */
export async function networkPolicyToStack(stack: Stack): Promise<{ azureDevOps: { cidrs: string[]; ports: number[] }; apiServer: { cidrs: string[]; ports: number[] } }> {
  const slice = await stack.kube.json<{ items: { endpoints: { addresses: string[] }[]; ports: { port: number }[] }[] }>([
    "-n", "default", "get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes",
  ]);
  const endpoint = slice.items[0];
  const address = endpoint?.endpoints[0]?.addresses[0];
  const port = endpoint?.ports[0]?.port;
  if (address === undefined || port === undefined) throw new Error("the kubernetes Service has no endpoint");
  const fakePorts = [stack.fake.port, ...(stack.fake.httpsPort === undefined ? [] : [stack.fake.httpsPort])];
  return { azureDevOps: { cidrs: [`${stack.env.hostForPods}/32`], ports: fakePorts }, apiServer: { cidrs: [`${address}/32`], ports: [port] } };
}

/** A team's values: what a platform team would put in its values file, pointed at the fake. */
export function teamValues(stack: Stack, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = {
    azp: { url: stack.adoUrl, pool: E2E_POOL, token: E2E_PAT },
    image: { repository: stack.imageRepository, tag: stack.imageTag, pullPolicy: "IfNotPresent" },
    replicaCount: 3,
    terminationGracePeriodSeconds: 300,
    agent: { removeRetrySeconds: 2 },
    registrationResources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    tests: { timeoutSeconds: 120 },
  };
  return deepMerge(base, [overrides]);
}

export function valuesFile(stack: Stack, name: string, values: Record<string, unknown>): string {
  const file = join(stack.workDir, `${name}-values.yaml`);
  writeFileSync(file, yaml.dump(values));
  return file;
}

export interface Release {
  readonly name: string;
  readonly namespace: string;
  /** The chart's resource name prefix (the Deployment's name), read from the cluster. */
  readonly fullname: string;
  /** The pool its agents register in. */
  readonly pool: string;
}

/**
 * The namespace a release goes into, created (or relabelled) to enforce the restricted Pod
 * Security Standard, as platform teams run agent namespaces: the API server then refuses any pod
 * of the chart (agents, CronJobs, hooks, the test pod) that is not restricted (issue #10).
 */
export async function restrictedNamespace(stack: Stack, namespace: string): Promise<void> {
  // Create, then label with a patch: installs into one namespace may run side by side (teams),
  // and two concurrent `apply`s of the same Namespace can conflict.
  const created = await stack.kube.kubectl(["create", "namespace", namespace]);
  if (created.code !== 0 && !created.stderr.includes("AlreadyExists")) throw new Error(`kubectl create namespace ${namespace}: ${created.stderr}`);
  await stack.kube.ok(["label", "namespace", namespace, "--overwrite", "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest"]);
}

export async function install(stack: Stack, name: string, namespace: string, values: Record<string, unknown>, extraArgs: string[] = []): Promise<Release> {
  const plain = stack.env.registryPlainHttp ? ["--plain-http"] : [];
  await restrictedNamespace(stack, namespace);
  const file = valuesFile(stack, `${namespace}-${name}`, values);
  await stack.kube.helmOk([
    "install", name, stack.chartRef, "--version", release.chartVersion, ...plain,
    "--namespace", namespace, "--create-namespace", "-f", file, "--wait", "--timeout", "5m", ...extraArgs,
  ]);
  // The chart decides its names (_helpers.tpl); read them back instead of re-deriving them.
  // With autoscaling, KEDA's ScaledJob stands where the Deployment would.
  const kind = (values["autoscaling"] as { enabled?: boolean } | undefined)?.enabled === true ? "scaledjob" : "deployment";
  const fullname = await stack.kube.ok(["-n", namespace, "get", kind, "-l", `app.kubernetes.io/instance=${name},app.kubernetes.io/component=${component.agent}`, "-o", "jsonpath={.items[0].metadata.name}"]);
  const pool = (values["azp"] as { pool?: string } | undefined)?.pool ?? E2E_POOL;
  return { name, namespace, fullname, pool };
}

export async function upgrade(stack: Stack, rel: Release, values: Record<string, unknown>): Promise<void> {
  const plain = stack.env.registryPlainHttp ? ["--plain-http"] : [];
  const file = valuesFile(stack, `${rel.namespace}-${rel.name}-upgrade`, values);
  await stack.kube.helmOk(["upgrade", rel.name, stack.chartRef, "--version", release.chartVersion, ...plain, "--namespace", rel.namespace, "-f", file, "--wait", "--timeout", "5m"]);
}

export async function uninstall(stack: Stack, rel: Release): Promise<void> {
  await stack.kube.helmOk(["uninstall", rel.name, "--namespace", rel.namespace, "--wait", "--timeout", "5m"]);
}

export const agentSelector = (rel: Release): string => `app.kubernetes.io/instance=${rel.name},app.kubernetes.io/component=${component.agent}`;

/** A CronJob of a release (refresh or gc), found by its labels. */
export async function cronJobOf(stack: Stack, rel: Release, componentName: string): Promise<string> {
  const selector = `app.kubernetes.io/instance=${rel.name},app.kubernetes.io/component=${componentName}`;
  return stack.kube.ok(["-n", rel.namespace, "get", "cronjob", "-l", selector, "-o", "jsonpath={.items[0].metadata.name}"]);
}

/** The refresh CronJob of a release, found by its labels. */
export const refreshCronJob = (stack: Stack, rel: Release): Promise<string> => cronJobOf(stack, rel, component.refresh);

/**
 * One run of the release's garbage collector now (`kubectl create job --from=cronjob/…`), as the
 * schedule would start it; resolves with its exit state and log once it has finished.
 */
export async function runGc(stack: Stack, rel: Release, jobName: string): Promise<{ succeeded: boolean; log: string }> {
  const ns = rel.namespace;
  await stack.kube.ok(["-n", ns, "create", "job", `--from=cronjob/${await cronJobOf(stack, rel, component.gc)}`, jobName]);
  const outcome = await waitFor(`the gc job ${jobName} to finish`, async () => {
    const job = await stack.kube.object<{ status: { succeeded?: number; failed?: number } }>(ns, "job", jobName);
    if ((job.status.succeeded ?? 0) >= 1) return "succeeded";
    if ((job.status.failed ?? 0) >= 1) return "failed";
    return undefined;
  });
  const log = await stack.kube.ok(["-n", ns, "logs", `job/${jobName}`]);
  return { succeeded: outcome === "succeeded", log };
}

/** `<namespace>/<fullname>`: the AZP_RELEASE capability this release's agents carry. */
export const releaseCapability = (rel: Release): string => `${rel.namespace}/${rel.fullname}`;

/**
 * Agents of the fake's pool registered by this release: named after one of its pods and
 * carrying its AZP_RELEASE capability (releases of the same name in two namespaces may share
 * a pool, so the name alone does not tell).
 */
export function agentsOf(stack: Stack, rel: Release, pool = rel.pool): { name: string; status: string; id: number }[] {
  const state = stack.fake.state();
  const poolId = state.pools.find((p) => p.name === pool)?.id;
  return state.agents
    .filter((a) => a.poolId === poolId && a.name.startsWith(`${rel.fullname}-`) && a.systemCapabilities[imageContract.env.release.name] === releaseCapability(rel))
    .map((a) => ({ name: a.name, status: a.status, id: a.id }));
}

/**
 * Steady state: exactly `replicas` running, non-terminating pods, each registered and online
 * under its pod name, and no other agent of this release in the pool (none stale).
 */
export async function waitForSteadyPool(stack: Stack, rel: Release, replicas: number, timeoutMs = 240_000): Promise<PodInfo[]> {
  return waitFor(
    `${replicas} online agents of ${rel.namespace}/${rel.name}, none stale`,
    async () => {
      const pods = (await stack.kube.pods(rel.namespace, agentSelector(rel))).filter((p) => !p.terminating);
      if (pods.length !== replicas || !pods.every((p) => p.phase === "Running" && p.ready)) return undefined;
      const agents = agentsOf(stack, rel);
      const names = new Set(pods.map((p) => p.name));
      if (agents.length !== replicas) return undefined;
      if (!agents.every((a) => names.has(a.name) && a.status === "online")) return undefined;
      return pods;
    },
    timeoutMs,
  );
}

export async function cleanupNamespace(stack: Stack, namespace: string): Promise<void> {
  const gone = await stack.kube.kubectl(["delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=180s"]);
  if (gone.code === 0) return;
  // Left over from an aborted run: its pods may wait out a long grace period for a fake Azure
  // DevOps that is gone. Nothing of theirs matters any more.
  await stack.kube.kubectl(["-n", namespace, "delete", "pods", "--all", "--grace-period=0", "--force"]);
  await stack.kube.kubectl(["wait", "--for=delete", `namespace/${namespace}`, "--timeout=120s"]);
}
