import { existsSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobFinished } from "../fake-ado/test-client.ts";
import { imageContract } from "../../generator/contract/image.ts";
import { useStackCleanup } from "./support/hooks.ts";
import { waitFor } from "./support/kube.ts";
import {
  agentSelector,
  cleanupNamespace,
  install,
  networkPolicyToStack,
  poolIdOf,
  startStack,
  teamValues,
  uninstall,
  upgrade,
  waitForSteadyPool,
  type Release,
  type Stack,
} from "./support/stack.ts";

/**
 * Isolation enforced by the cluster (issue #10), on the real API server: the release goes into a
 * namespace enforcing the restricted Pod Security Standard (every install of the e2e layer
 * does, see `install`), with the own-pod deletion policy and the NetworkPolicies on.
 *
 * The deletions are made with the deregister sidecar's own projected token, from inside the
 * sidecar (`kubectl exec`), exactly as the sidecar itself calls the API server. The local
 * cluster enforces NetworkPolicy with kube-router's policy controller (test/cluster/netpol.sh):
 * the release's agents reach the fake Azure DevOps and the API server through the chart's rules,
 * and a job cannot reach a service on this host that `extraEgress` opens to every address but
 * excepts this one (the mechanism that keeps the metadata addresses out); without the policies
 * (the control) the same job reaches it.
 */

const NS = "e2e-isolation";
const REPLICAS = 2;
const { containers, paths } = imageContract;
let stack: Stack;
let rel: Release;
/** A TCP service on this host that the jobs' policy excepts (answers one line, then closes). */
let hostService: Server;
let hostServicePort: number;
let networkPolicy: Record<string, unknown>;
/** The local cluster of test/cluster/ runs kube-router's policy controller. */
const enforced = (): boolean => existsSync("/run/azp-cluster/pids/kube-router.pid");

const values = (validationActions: string[], policies = true): Record<string, unknown> =>
  teamValues(stack, { replicaCount: REPLICAS, admissionPolicy: { enabled: true, validationActions }, networkPolicy: { ...networkPolicy, enabled: policies } });

beforeAll(async () => {
  stack = await startStack();
  hostService = createServer((socket) => socket.end("host-service\n"));
  await new Promise<void>((resolve) => hostService.listen(0, "0.0.0.0", resolve));
  hostServicePort = (hostService.address() as { port: number }).port;
  const host = `${stack.env.hostForPods}/32`;
  networkPolicy = {
    ...(await networkPolicyToStack(stack)),
    // The jobs may use that port anywhere, except on this host.
    extraEgress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [host, "169.254.169.254/32", "168.63.129.16/32"] } }], ports: [{ protocol: "TCP", port: hostServicePort }] }],
  };
  await cleanupNamespace(stack, NS);
  rel = await install(stack, "iso", NS, values(["Deny"]));
});

useStackCleanup(() => stack, [NS]);

afterAll(async () => {
  await new Promise<void>((resolve) => (hostService ? hostService.close(() => resolve()) : resolve()));
});

/** Runs a job on the release that tries the host service; its output says whether it answered. */
async function jobReachesHostService(): Promise<{ reached: string; ado: string }> {
  const script = [
    "set +e",
    `out="$(curl -sS -m 5 telnet://${stack.env.hostForPods}:${hostServicePort} </dev/null 2>&1)"; echo "RESULT reached=$(printf %s "$out" | grep -c host-service)"`,
    `echo "RESULT ado=$(curl -s -m 5 -o /dev/null -w '%{http_code}' ${stack.adoUrl}/_apis/connectionData)"`,
  ].join("\n");
  const [requestId] = stack.fake.enqueueJobs(poolIdOf(stack), { script });
  const job = await jobFinished(stack.fake, requestId!, 240_000);
  const out = job.output ?? "";
  return { reached: /RESULT reached=(\d+)/.exec(out)?.[1] ?? "?", ado: /RESULT ado=(\d+)/.exec(out)?.[1] ?? "?" };
}

interface ApiAnswer {
  status: string;
  body: string;
  warnings: string;
}

/** A pod DELETE made from `pod`'s deregister sidecar with its own token (`dryRun` leaves the pod). */
async function deleteFromSidecar(pod: string, target: string, dryRun: boolean): Promise<ApiAnswer> {
  const sa = paths.serviceAccount;
  const script = [
    'api="https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"',
    `code="$(curl -sS -D /tmp/headers -o /tmp/body -w '%{http_code}' --cacert ${sa}/ca.crt -H "Authorization: Bearer $(cat ${sa}/token)" -X DELETE "$api/api/v1/namespaces/${NS}/pods/${target}${dryRun ? "?dryRun=All" : ""}")"`,
    'echo "STATUS=$code"; echo "<<<WARNINGS"; grep -i "^warning:" /tmp/headers; echo "WARNINGS>>>"; echo "<<<BODY"; cat /tmp/body; echo; echo "BODY>>>"; rm -f /tmp/headers /tmp/body',
  ].join("\n");
  const out = await stack.kube.ok(["-n", NS, "exec", pod, "-c", containers.deregister, "--", "sh", "-c", script]);
  const section = (name: string): string => new RegExp(`<<<${name}\\n([\\s\\S]*?)${name}>>>`).exec(out)?.[1] ?? "";
  return { status: /STATUS=(\d+)/.exec(out)?.[1] ?? "", warnings: section("WARNINGS"), body: section("BODY").trim() };
}

const policyName = `${NS}-iso-azp-agent-own-pod-deletion`;
const refusal = (pod: string, target: string): string =>
  `system:serviceaccount:${NS}:iso-azp-agent may delete only the pod named in its own token (authentication.kubernetes.io/pod-name: ${pod}), not pod ${target} (ValidatingAdmissionPolicy ${policyName})`;

describe("the own-pod deletion policy", () => {
  it("should let the sidecar's identity delete its own pod and refuse a sibling's with the policy's message", async () => {
    const [a, b] = (await waitForSteadyPool(stack, rel, REPLICAS)).map((p) => p.name);
    const own = await deleteFromSidecar(a!, a!, true);
    expect(own.status, own.body).toBe("200");

    const sibling = await deleteFromSidecar(a!, b!, false);
    expect(sibling.status).toBe("403");
    const answer = JSON.parse(sibling.body) as { reason: string; message: string };
    expect(answer.reason).toBe("Forbidden");
    expect(answer.message).toBe(`pods "${b}" is forbidden: ValidatingAdmissionPolicy '${policyName}' with binding '${policyName}' denied request: ${refusal(a!, b!)}`);
    // The sibling was not deleted: both pods are still the pool.
    const now = (await stack.kube.pods(NS, agentSelector(rel))).map((p) => p.name);
    expect(now).toContain(b);
  });

  it("should be the policy that refuses: in Warn mode the same deletion passes, with the message as a warning", async () => {
    await upgrade(stack, rel, values(["Warn"]));
    const [a, b] = (await waitForSteadyPool(stack, rel, REPLICAS)).map((p) => p.name);
    const sibling = await waitFor("the binding in Warn mode to reach the API server's policy cache", async () => {
      const answer = await deleteFromSidecar(a!, b!, true);
      return answer.status === "200" ? answer : undefined;
    }, 60_000);
    expect(sibling.warnings).toContain(refusal(a!, b!));
    await upgrade(stack, rel, values(["Deny"]));
    await waitFor("the binding in Deny mode again", async () => ((await deleteFromSidecar(a!, b!, true)).status === "403" ? true : undefined), 60_000);
  });

  it("should let each pod's sidecar delete its own pod after its job, so the pool stays whole", async () => {
    const before = (await waitForSteadyPool(stack, rel, REPLICAS)).map((p) => p.name);
    const [requestId] = stack.fake.enqueueJobs(poolIdOf(stack), { script: "echo hello" });
    const job = await jobFinished(stack.fake, requestId!, 240_000);
    expect(job.result).toBe("succeeded");
    await waitFor(`the pod of ${job.agentName} to be deleted by its own sidecar`, async () => {
      const now = (await stack.kube.pods(NS, agentSelector(rel))).map((p) => p.name);
      return now.includes(job.agentName!) ? undefined : true;
    });
    const after = (await waitForSteadyPool(stack, rel, REPLICAS)).map((p) => p.name);
    expect(before).toContain(job.agentName);
    expect(after).not.toContain(job.agentName);
  });
});

describe("restricted Pod Security and NetworkPolicies", () => {
  it("should run every pod of the release, helm test included, in a namespace enforcing restricted", async () => {
    const labels = await stack.kube.json<{ metadata: { labels: Record<string, string> } }>(["get", "namespace", NS]);
    expect(labels.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    const out = await stack.kube.helmOk(["test", rel.name, "--namespace", NS, "--logs", "--timeout", "5m"]);
    expect(out).toMatch(/Phase:\s+Succeeded/);
  });

  it("should have the API server accept the release's three NetworkPolicies", async () => {
    const names = await stack.kube.ok(["-n", NS, "get", "networkpolicy", "-l", `app.kubernetes.io/instance=${rel.name}`, "-o", "jsonpath={.items[*].metadata.name}"]);
    expect(names.split(" ").sort()).toEqual([`${rel.fullname}-agents`, `${rel.fullname}-cronjobs`, `${rel.fullname}-hooks`]);
  });
});

describe.runIf(enforced())("NetworkPolicies enforced (kube-router)", () => {
  it("should let the agents work through the chart's rules, and keep a job from an excepted address", async () => {
    await waitForSteadyPool(stack, rel, REPLICAS);
    const r = await jobReachesHostService();
    expect(r.reached).toBe("0");
    // Azure DevOps stays reachable (any HTTP answer): the block is the except, not a dead network.
    expect(r.ado).toMatch(/^[1-5]\d\d$/);
    await waitForSteadyPool(stack, rel, REPLICAS);
  });

  it("should let the same job reach that service once the policies are gone (the control)", async () => {
    await upgrade(stack, rel, values(["Deny"], false));
    await waitFor("the release's NetworkPolicies to be deleted", async () =>
      (await stack.kube.ok(["-n", NS, "get", "networkpolicy", "-o", "name"])).trim() === "" ? true : undefined,
    );
    await waitForSteadyPool(stack, rel, REPLICAS);
    const r = await waitFor("kube-router to drop the policies' rules", async () => {
      const attempt = await jobReachesHostService();
      return attempt.reached === "1" ? attempt : undefined;
    }, 120_000, 5_000);
    expect(r.reached).toBe("1");
  });
});

describe("uninstall", () => {
  it("should remove the policy and its binding with the release", async () => {
    await uninstall(stack, rel);
    const left = await stack.kube.kubectl(["get", "validatingadmissionpolicy", policyName]);
    expect(left.code).not.toBe(0);
    expect(left.stderr).toContain("NotFound");
  });
});
