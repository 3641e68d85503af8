import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import type { JobView } from "../fake-ado/control.ts";
import { jobFinished } from "../fake-ado/test-client.ts";
import { fullnameOf } from "../support/helm.ts";
import { reportFailure } from "./support/failure-report.ts";
import { useStackCleanup } from "./support/hooks.ts";
import { waitFor } from "./support/kube.ts";
import {
  agentSelector,
  agentsOf,
  cleanupNamespace,
  createCaConfigMap,
  install,
  poolIdOf,
  releaseCapability,
  restrictedNamespace,
  runGc,
  startStack,
  teamValues,
  uninstall,
  waitForSteadyPool,
  type Release,
  type Stack,
} from "./support/stack.ts";

/**
 * PAT-free identities on the real cluster (issue #10): a release with a service principal and
 * one with a workload identity register their agents, run jobs, remove the agents and pass helm
 * test, against the fake Azure DevOps and its fake Microsoft Entra ID. For the workload identity,
 * the fake Entra verifies the kubelet's projected tokens for real against this cluster's
 * service-account issuer (its discovery document and JWKS, fetched from the API server).
 */

const NS_SP = "e2e-identity-sp";
const NS_WI = "e2e-identity-wi";
const REPLICAS = 2;
const TENANT = randomUUID();
const SP = { clientId: randomUUID(), objectId: randomUUID() };
const WI = { clientId: randomUUID(), objectId: randomUUID() };
const SECRET = `azpe2esp~${randomBytes(12).toString("hex")}`;
/** The cluster's service-account issuer (test/cluster/up.sh --service-account-issuer). */
const CLUSTER_ISSUER = "https://kubernetes.default.svc.cluster.local";
const ENTRA_ISSUER_PREFIX = "https://sts.windows.net/";

let stack: Stack;
let sp: Release;
/** A job only this release's agents run (the AZP_RELEASE capability they report). */
const releaseDemand = (rel: Release): string => `${imageContract.env.release.name} -equals ${releaseCapability(rel)}`;
let wi: Release;

/** The API server as the fake Entra reaches it, with the admin credential of the kubeconfig (as Entra would fetch a public issuer). */
function apiServerTrust(): { baseUrl: string; ca: string; cert: string; key: string } {
  type Kubeconfig = { clusters: { cluster: { server: string; "certificate-authority-data": string } }[]; users: { user: { "client-certificate-data": string; "client-key-data": string } }[] };
  const config = yaml.load(readFileSync(stack.env.kubeconfig, "utf8")) as Kubeconfig;
  const pem = (data: string): string => Buffer.from(data, "base64").toString("utf8");
  const cluster = config.clusters[0]!.cluster;
  const user = config.users[0]!.user;
  return { baseUrl: new URL(cluster.server).origin, ca: pem(cluster["certificate-authority-data"]), cert: pem(user["client-certificate-data"]), key: pem(user["client-key-data"]) };
}

function entraTables(options: { members?: string[] } = {}): Parameters<Stack["fake"]["entra"]>[0] {
  const subject = (sa: string): string => `system:serviceaccount:${NS_WI}:${sa}`;
  return {
    tenants: [TENANT],
    applications: [
      { clientId: SP.clientId, objectId: SP.objectId, tenantId: TENANT, secrets: [SECRET] },
      {
        clientId: WI.clientId,
        objectId: WI.objectId,
        tenantId: TENANT,
        // The agents (and helm test), and the collector: their ServiceAccounts as the chart names them.
        federatedCredentials: [
          { issuer: CLUSTER_ISSUER, subject: subject(fullnameOf("wi")), name: "agents" },
          { issuer: CLUSTER_ISSUER, subject: subject(`${fullnameOf("wi")}-gc`), name: "collector" },
        ],
      },
    ],
    issuers: [{ issuer: CLUSTER_ISSUER, ...apiServerTrust() }],
    organizationMembers: options.members ?? [SP.objectId, WI.objectId],
  };
}

function identityValues(auth: "servicePrincipal" | "workloadIdentity", clientId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return teamValues(stack, {
    replicaCount: REPLICAS,
    azp: {
      token: "",
      auth,
      entra: {
        tenantId: TENANT,
        clientId,
        authorityHost: `https://${stack.env.hostForPods}:${stack.fake.httpsPort}/_entra/`,
        ...(auth === "servicePrincipal" ? { clientSecret: SECRET } : {}),
      },
    },
    // The pods trust the fake's https listener (where its Entra endpoint is).
    caBundle: { configMap: "fake-ca", key: "ca.crt" },
    ...extra,
  });
}

async function installWith(name: string, namespace: string, values: Record<string, unknown>): Promise<Release> {
  await cleanupNamespace(stack, namespace);
  await restrictedNamespace(stack, namespace);
  await createCaConfigMap(stack, namespace, "fake-ca", "ca.crt");
  return install(stack, name, namespace, values);
}

beforeAll(async () => {
  stack = await startStack();
  stack.fake.entra(entraTables());
  try {
    sp = await installWith("sp", NS_SP, identityValues("servicePrincipal", SP.clientId));
    wi = await installWith("wi", NS_WI, identityValues("workloadIdentity", WI.clientId));
  } catch (error) {
    await reportFailure(stack, "installing the releases", [NS_SP, NS_WI]);
    throw error;
  }
});

useStackCleanup(() => stack, [NS_SP, NS_WI]);

const waitJobFinished = (requestId: number, timeoutMs = 240_000): Promise<JobView> => jobFinished(stack.fake, requestId, timeoutMs);

/**
 * A job step that looks for the client secret (a prefix assembled at run time, so the script
 * does not contain it) and for every JWT in the processes it can see and the files it can
 * read, and prints each JWT's issuer: the pod's federated token (issued by the cluster) and an
 * Entra token (issued by sts.windows.net) must not be among them.
 */
const scanScript = [
  "set +e",
  `needle="${SECRET.slice(0, 6)}""${SECRET.slice(6, 14)}"`,
  'for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr "\\0" "\\n" < "$f" 2>/dev/null; done > "$HOME/proc.txt"',
  'echo "RESULT secret_proc=$(grep -c "$needle" "$HOME/proc.txt")"',
  'echo "RESULT secret_files=$(grep -rIl --exclude-dir=proc --exclude-dir=sys --exclude=proc.txt -e "$needle" / 2>/dev/null | wc -l)"',
  `echo "RESULT federated_dir=$(test -e ${imageContract.paths.federatedToken} && echo present || echo absent)"`,
  '{ grep -ohaE "eyJ[A-Za-z0-9_-]+[.]eyJ[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+" "$HOME/proc.txt"; grep -rhoaE --exclude-dir=proc --exclude-dir=sys --exclude=proc.txt "eyJ[A-Za-z0-9_-]+[.]eyJ[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+" / 2>/dev/null; } | sort -u > "$HOME/jwts.txt"',
  'echo "RESULT jwts=$(wc -l < "$HOME/jwts.txt")"',
  'while read -r jwt; do p="$(printf %s "$jwt" | cut -d. -f2 | tr "_-" "/+")"; while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done; echo "RESULT jwt_iss=$(printf %s "$p" | base64 -d 2>/dev/null | grep -o "\\"iss\\":\\"[^\\"]*\\"" | head -n1)"; done < "$HOME/jwts.txt"',
].join("\n");

const results = (out: string, key: string): string[] => [...out.matchAll(new RegExp(`RESULT ${key}=(.*)`, "g"))].map((m) => (m[1] ?? "").trim());

describe.each([
  { mode: "servicePrincipal", rel: () => sp, client: () => SP, grant: "secret" as const, says: () => `the service principal ${SP.clientId} of tenant ${TENANT} with its client secret` },
  { mode: "workloadIdentity", rel: () => wi, client: () => WI, grant: "assertion" as const, says: () => `the workload identity ${WI.clientId} of tenant ${TENANT}, through this pod's federated token` },
])("a release with azp.auth=$mode", ({ rel, client, grant, says }) => {
  it("should register its agents with the identity (no PAT) and pass helm test, which names the identity", async () => {
    await waitForSteadyPool(stack, rel(), REPLICAS);
    expect(stack.fake.entra().stats.issued[client().clientId]?.[grant] ?? 0).toBeGreaterThanOrEqual(REPLICAS * 2);
    const out = await stack.kube.helmOk(["test", rel().name, "--namespace", rel().namespace, "--logs", "--timeout", "5m"]);
    expect(out).toMatch(/Phase:\s+Succeeded/);
    expect(out).toContain(`authenticating with ${says()}`);
  });

  it("should run a job that finds neither the secret nor a federated or Entra token, remove its agent and replace its pod", async () => {
    const before = (await waitForSteadyPool(stack, rel(), REPLICAS)).map((p) => p.name);
    const [requestId] = stack.fake.enqueueJobs(poolIdOf(stack), { script: scanScript, demands: [releaseDemand(rel())] });
    const job = await waitJobFinished(requestId!);
    const out = job.output ?? "";
    expect(results(out, "secret_proc")).toEqual(["0"]);
    expect(results(out, "secret_files")).toEqual(["0"]);
    expect(results(out, "federated_dir")).toEqual(["absent"]);
    const issuers = results(out, "jwt_iss");
    expect(issuers.filter((i) => i.includes(CLUSTER_ISSUER) || i.includes(ENTRA_ISSUER_PREFIX))).toEqual([]);
    expect(before).toContain(job.agentName);
    await waitFor(`the agent ${job.agentName} to be removed and its pod replaced`, async () => {
      const pods = (await stack.kube.pods(rel().namespace, agentSelector(rel()))).map((p) => p.name);
      const agents = agentsOf(stack, rel()).map((a) => a.name);
      return !pods.includes(job.agentName!) && !agents.includes(job.agentName!) ? true : undefined;
    });
    await waitForSteadyPool(stack, rel(), REPLICAS);
  });
});

describe("a workload identity's Entra token that expires during a long job", () => {
  it("should not keep the sidecar from removing the agent: it renews the token before use", async () => {
    // Entra tokens of 40 s from now on, and pods that get theirs only now (a rollout); the job
    // takes 60 s, so every token the pods got at start has expired when the agent is removed, and
    // the fake Azure DevOps refuses an expired token with 401.
    stack.fake.entra({ accessTokenTtlSeconds: 40, resetStats: true });
    try {
      await stack.kube.ok(["-n", wi.namespace, "rollout", "restart", `deployment/${wi.fullname}`]);
      await stack.kube.ok(["-n", wi.namespace, "rollout", "status", `deployment/${wi.fullname}`, "--timeout=240s"]);
      await waitForSteadyPool(stack, wi, REPLICAS);
      const started = Date.now();
      const [requestId] = stack.fake.enqueueJobs(poolIdOf(stack), { script: "sleep 60; echo done", demands: [releaseDemand(wi)] });
      const job = await waitJobFinished(requestId!);
      expect(job.result).toBe("succeeded");
      await waitFor(`the agent ${job.agentName} to be removed`, async () => (agentsOf(stack, wi).some((a) => a.name === job.agentName) ? undefined : true));
      const fromImage = stack.fake.requests().filter((r) => (r.userAgent ?? "").startsWith("azp-agent-image/") && !/(^|\/)_entra\//.test(r.path));
      const removal = fromImage.find((r) => r.method === "DELETE" && r.status === 204 && Date.parse(r.time) >= started);
      expect(removal, "the sidecar's DELETE of its agent").toBeDefined();
      expect(Date.parse(removal!.time) - started).toBeGreaterThan(40_000);
      expect(fromImage.filter((r) => r.status === 401)).toEqual([]);
      expect(stack.fake.entra().stats.issued[WI.clientId]?.assertion ?? 0).toBeGreaterThan(REPLICAS * 2);
    } finally {
      stack.fake.entra({ accessTokenTtlSeconds: 3599 });
    }
  });
});

describe("a workload identity Azure DevOps does not know", () => {
  it("should fail helm test with TF401444 and the fix, and the collector should say the same", async () => {
    stack.fake.entra({ organizationMembers: [SP.objectId] });
    try {
      const test = await stack.kube.helm(["test", wi.name, "--namespace", wi.namespace, "--logs", "--timeout", "3m"]);
      expect(test.code).not.toBe(0);
      expect(test.stdout + test.stderr).toContain(
        `Azure DevOps does not know the identity ${WI.clientId} of tenant ${TENANT} (TF401444, HTTP 401 while checking the connection (GET _apis/connectionData)): add the identity ${WI.clientId} to the organization and give it the Administrator role in the agent pool`,
      );
      const gc = await runGc(stack, wi, "gc-tf401444");
      expect(gc.succeeded).toBe(false);
      expect(gc.log).toContain(`Azure DevOps does not know the identity ${WI.clientId} of tenant ${TENANT} (TF401444`);
    } finally {
      stack.fake.entra({ organizationMembers: [SP.objectId, WI.objectId] });
    }
  });
});

describe("uninstall", () => {
  it("should leave no agent of either release behind", async () => {
    await uninstall(stack, sp);
    await uninstall(stack, wi);
    await waitFor("no agent of either release", async () => (agentsOf(stack, sp).length + agentsOf(stack, wi).length === 0 ? true : undefined), 120_000);
  });
});
