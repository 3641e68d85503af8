import { describe, expect, it } from "vitest";
import { envFor, imageContract, type EnvKey } from "../../generator/contract/image.ts";
import { contractEnvValue, type ReleaseFacts, type ValuesObject } from "../../generator/model/contract-env.ts";
import { ciScenario, ciScenarios } from "../support/chart.ts";
import { fullnameOf, NAMESPACE, RELEASE, render } from "../support/helm.ts";
import { commandOf, containersOf, podSpecs, Rendering } from "../support/manifests.ts";
import { mergeValues, type JsonObject } from "../support/values.ts";

/**
 * generator/model/contract-env.ts values every contract variable twice: the chart renders it as a
 * Go-template expression, and `contractEnvValue` computes it in TypeScript for the image tests'
 * simulated pod (test/image/support/pod.ts). Here Helm renders each case and every contract
 * variable of every container must be what `contractEnvValue` says: the simulated pod gets the
 * environment the chart gives.
 */

const POD = "<the pod's name>";
const fullname = fullnameOf(RELEASE);
const facts: ReleaseFacts = {
  podName: POD,
  namespace: NAMESPACE,
  release: `${NAMESPACE}/${fullname}`,
  fullname,
  // The chart's name for release "ci" in "ci-ns" (sha256 of the release, test/render/autoscaling.test.ts).
  placeholderName: "ci-ns-ci-azp-agent-placeholder-85cdc393",
};
const entra = { tenantId: "11111111-2222-3333-4444-555555555555", clientId: "99999999-2222-3333-4444-555555555555" };
const defaults = ciScenario("defaults").values;

const cases: { case: string; values: JsonObject }[] = [
  ...ciScenarios().map((s) => ({ case: `the ${s.name} scenario`, values: s.values })),
  {
    case: "autoscaling, with capabilities that Go's JSON escapes",
    values: mergeValues(defaults, { autoscaling: { enabled: true, minReplicas: 2, idleTimeoutSeconds: 120 }, agent: { capabilities: { b: "2", a: "<&>" } } }),
  },
  { case: "autoscaling with a lifetime of its own", values: mergeValues(defaults, { autoscaling: { enabled: true }, agent: { maxLifetimeSeconds: 7200 } }) },
  { case: "a service principal", values: mergeValues(defaults, { azp: { token: "", auth: "servicePrincipal", entra: { ...entra, clientSecret: "s" } } }) },
  { case: "a workload identity", values: mergeValues(defaults, { azp: { token: "", auth: "workloadIdentity", entra } }) },
  { case: "a URL with a trailing slash", values: mergeValues(defaults, { azp: { url: "https://dev.azure.com/contoso/" } }) },
  { case: "whole numbers of a million and more", values: mergeValues(defaults, { terminationGracePeriodSeconds: 2000000, agent: { maxLifetimeSeconds: 31536000 } }) },
];

/** What a container's variable is set to: its value, or what the downward API puts there. */
function renderedValue(env: { value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }): string | undefined {
  const field = env.valueFrom?.fieldRef?.fieldPath;
  if (field === "metadata.name") return POD;
  if (field === "metadata.namespace") return NAMESPACE;
  return env.value;
}

describe.each(cases)("the contract variables with $case", ({ values }) => {
  const rendering = new Rendering(render({ values: [values] }));

  it("should render in every container exactly the value contractEnvValue gives", () => {
    const containers = podSpecs(rendering).flatMap(({ owner, spec }) => containersOf(spec).map(({ container }) => ({ owner, container })));
    expect(containers.length).toBeGreaterThan(0);
    for (const { owner, container } of containers) {
      for (const key of envFor(commandOf(container))) {
        const name = imageContract.env[key].name;
        const rendered = container.env?.find((e) => e.name === name);
        const where = `${owner} ${container.name} ${name}`;
        expect(rendered === undefined ? undefined : renderedValue(rendered), where).toBe(contractEnvValue(key, values, facts));
      }
    }
  });
});

describe("contractEnvValue", () => {
  // Literal expectations: what Helm renders for these values (checked above), spelled out.
  it.each<{ key: EnvKey; values: ValuesObject; expected: string | undefined }>([
    { key: "url", values: { azp: { url: "https://dev.azure.com/contoso/" } }, expected: "https://dev.azure.com/contoso" },
    { key: "maxLifetimeSeconds", values: { agent: { maxLifetimeSeconds: 31536000 } }, expected: "31536000" },
    { key: "maxLifetimeSeconds", values: { autoscaling: { enabled: true } }, expected: "86400" },
    { key: "maxLifetimeSeconds", values: {}, expected: "0" },
    { key: "podLifecycle", values: { autoscaling: { enabled: true } }, expected: "complete" },
    { key: "podLifecycle", values: {}, expected: "replace" },
    { key: "idleTimeoutSeconds", values: {}, expected: "0" },
    { key: "placeholderCapabilities", values: { agent: { capabilities: { b: "2", a: "<&>" } } }, expected: '{"a":"\\u003c\\u0026\\u003e","b":"2"}' },
    { key: "agentIgnore", values: { extraEnv: [{ name: "A", value: "1" }, { name: "B", value: "2" }] }, expected: "A,B" },
    { key: "gcDryRun", values: {}, expected: "false" },
    { key: "tokenFile", values: { azp: { auth: "workloadIdentity" } }, expected: undefined },
    { key: "tokenFile", values: {}, expected: "/azp/secrets/token" },
    { key: "tenantId", values: {}, expected: undefined },
    { key: "agentName", values: {}, expected: POD },
  ])("should give $key $expected for $values", ({ key, values, expected }) => {
    expect(contractEnvValue(key, values, facts)).toBe(expected);
  });
});
