import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { release } from "../../generator/contract/release.ts";
import { v } from "../../generator/model/values.ts";
import { ciScenarios } from "../support/chart.ts";
import { run } from "../support/process.ts";
import { repo } from "./support/env.ts";
import { useStackCleanup } from "./support/hooks.ts";
import { cleanupNamespace, createCaConfigMap, E2E_PAT, E2E_POOL, networkPolicyToStack, restrictedNamespace, startStack, type Stack } from "./support/stack.ts";

/**
 * `ct install` over every ci/*-values.yaml of the chart: chart-testing installs each scenario
 * with --wait, runs `helm test`, and uninstalls. The scenarios describe clusters with an existing
 * PAT Secret, existing ServiceAccounts, a PriorityClass and labelled nodes, so this test prepares
 * exactly those; environment-specific values (URL, image) come in through --helm-extra-set-args.
 */

const NS = "e2e-ct";
let stack: Stack;
const chartDir = (): string => join(repo, "chart", release.chartName);

interface ScenarioValues {
  azp?: { pool?: string; token?: string; existingSecret?: string; existingSecretKey?: string };
  serviceAccount?: { create?: boolean; name?: string };
  refresh?: { serviceAccount?: { create?: boolean; name?: string } };
  gc?: { serviceAccount?: { create?: boolean; name?: string } };
  priorityClassName?: string;
  nodeSelector?: Record<string, string>;
  namespace?: { create?: boolean; name?: string };
  caBundle?: { configMap?: string; key?: string };
}

const scenarios = (): ScenarioValues[] => ciScenarios().map((s) => s.values as ScenarioValues);

beforeAll(async () => {
  const all = scenarios();
  const pools = [...new Set(all.map((s) => s.azp?.pool).filter((p): p is string => p !== undefined))];
  stack = await startStack(pools.filter((p) => p !== E2E_POOL));
  // The PATs written in the ci files are accepted by the fake as valid.
  stack.fake.auth({ pats: all.map((s) => s.azp?.token).filter((t): t is string => t !== undefined) });

  await cleanupNamespace(stack, NS);
  await restrictedNamespace(stack, NS);
  const kube = stack.kube;
  for (const s of all) {
    if (s.azp?.existingSecret) {
      await kube.ok(["-n", NS, "create", "secret", "generic", s.azp.existingSecret, `--from-literal=${s.azp.existingSecretKey ?? String(v("azp.existingSecretKey").spec.default)}=${E2E_PAT}`]);
    }
    for (const sa of [s.serviceAccount, s.refresh?.serviceAccount, s.gc?.serviceAccount]) {
      if (sa?.create === false && sa.name) await kube.ok(["-n", NS, "create", "serviceaccount", sa.name]);
    }
    if (s.priorityClassName) {
      await kube.kubectl(["create", "priorityclass", s.priorityClassName, "--value=1000", "--description=azp-agent e2e"]);
    }
    if (s.caBundle?.configMap) {
      // The scenario's package host is the fake's https listener, signed by the test CA.
      await createCaConfigMap(stack, NS, s.caBundle.configMap, s.caBundle.key ?? String(v("caBundle.key").spec.default));
    }
    for (const [key, value] of Object.entries(s.nodeSelector ?? {})) {
      await kube.ok(["label", "node", "--all", "--overwrite", `${key}=${value}`]);
    }
  }
}, 1_800_000);

// The scenarios that create a namespace of their own leave it behind.
useStackCleanup(() => stack, [NS, ...scenarios().flatMap((s) => (s.namespace?.create && s.namespace.name ? [s.namespace.name] : []))]);

describe("ct install", () => {
  it("should install, helm test and uninstall every ci scenario of the chart", async () => {
    // Where NetworkPolicy is enforced, the scenarios that enable it must reach the fake.
    const reach = await networkPolicyToStack(stack);
    const setArgs = [
      `--set=azp.url=${stack.adoUrl}`,
      `--set=networkPolicy.azureDevOps.cidrs={${reach.azureDevOps.cidrs.join(",")}}`,
      `--set=networkPolicy.azureDevOps.ports={${reach.azureDevOps.ports.join(",")}}`,
      `--set=networkPolicy.apiServer.cidrs={${reach.apiServer.cidrs.join(",")}}`,
      `--set=networkPolicy.apiServer.ports={${reach.apiServer.ports.join(",")}}`,
      `--set=image.repository=${stack.imageRepository}`,
      `--set=image.tag=${stack.imageTag}`,
      "--set=replicaCount=1",
      "--set=terminationGracePeriodSeconds=60",
    ].join(" ");
    const result = await run(
      stack.env.ct,
      [
        "install",
        "--config", join(stack.env.repo, "ct", "ct.yaml"),
        "--charts", chartDir(),
        "--namespace", NS,
        "--helm-extra-set-args", setArgs,
        "--helm-extra-args", "--timeout 300s",
      ],
      {
        env: { ...process.env, KUBECONFIG: stack.env.kubeconfig, PATH: `${join(stack.env.repo, ".cache/cluster/bin")}:${join(stack.env.repo, ".cache/tools/bin")}:${process.env["PATH"] ?? ""}` },
        timeoutMs: 1_500_000,
      },
    );
    const output = result.stdout + result.stderr;
    if (result.code !== 0) console.log(output.slice(-20_000));
    expect(result.code).toBe(0);
    // One install and one passing helm test per scenario file.
    const count = scenarios().length;
    expect(output.match(/Phase:\s+Succeeded/g)?.length ?? 0).toBe(count);
  });
});
