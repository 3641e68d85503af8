import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { ciScenarios } from "../support/chart.ts";
import { expectedEnvNames } from "../support/expected-env.ts";
import { NAMESPACE, RELEASE, fullnameOf } from "../support/helm.ts";
import { commandOf, containersOf, nullPaths, podSpecs, scenarioRendering } from "../support/manifests.ts";
import { mergeValues, modelDefaults, type JsonObject } from "../support/values.ts";

/** Properties every ci scenario's rendering must have (one case per `ci/*-values.yaml`). */

const scenarios = ciScenarios();

/** The command each container of the chart runs, as a reader of the rendering sees it. */
const COMMAND_OF_CONTAINER: Record<string, string> = {
  register: "azp-register",
  deregister: "azp-deregister",
  agent: "azp-run",
  refresh: "azp-refresh",
  gc: "azp-gc",
  smoke: "azp-smoke",
  placeholder: "azp-placeholder",
};
const valuesOf = (values: JsonObject): JsonObject => mergeValues(modelDefaults(), values);

describe("ci scenarios", () => {
  it("should be at least six, one file per case", () => {
    expect(scenarios.map((s) => s.name).length).toBeGreaterThanOrEqual(6);
  });
});

describe.each(scenarios)("rendering of the $name scenario", ({ name, values }) => {
  const merged = valuesOf(values);

  it("should render only known kinds, each valid against its Kubernetes schema", () => {
    // WHEN rendered  THEN every document wraps in its kubernetes-models class and validates
    const rendering = scenarioRendering(name);
    expect(rendering.resources.length).toBeGreaterThan(0);
  });

  it("should name every resource it creates after the release's fullname", () => {
    const rendering = scenarioRendering(name);
    for (const r of rendering.resources.filter((r) => r.kind !== "Namespace")) {
      expect(r.metadata?.name, `${r.kind}`).toMatch(new RegExp(`^${fullnameOf(RELEASE)}(-|$)`));
    }
  });

  it("should put every namespaced resource in one namespace: namespace.name, else the release's", () => {
    const rendering = scenarioRendering(name);
    const namespace = (merged["namespace"] as JsonObject)["name"] || NAMESPACE;
    for (const r of rendering.resources.filter((r) => r.kind !== "Namespace")) {
      expect(r.metadata?.namespace, `${r.kind}/${r.metadata?.name}`).toBe(namespace);
    }
    for (const b of rendering.all("RoleBinding")) for (const s of b.subjects ?? []) expect(s.namespace).toBe(namespace);
  });

  it("should leave no key without a value (a null is a template that rendered nothing)", () => {
    const rendering = scenarioRendering(name);
    const nulls = rendering.documents.flatMap((d) => nullPaths(d).map((p) => `${String(d.kind)}/${String((d["metadata"] as { name?: string } | undefined)?.name)}: ${p}`));
    expect(nulls).toEqual([]);
  });

  it("should harden every pod: non-root, RuntimeDefault seccomp, the image's uid", () => {
    for (const { owner, spec } of podSpecs(scenarioRendering(name))) {
      expect(spec.securityContext, owner).toMatchObject({
        runAsNonRoot: true,
        runAsUser: imageContract.user.uid,
        runAsGroup: imageContract.user.gid,
        seccompProfile: { type: "RuntimeDefault" },
      });
    }
  });

  it("should harden every container: no privilege escalation, all capabilities dropped, read-only root", () => {
    for (const { owner, spec } of podSpecs(scenarioRendering(name))) {
      for (const { container } of containersOf(spec)) {
        const sc = container.securityContext;
        const where = `${owner} ${container.name}`;
        expect(sc, where).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true });
        expect(sc?.capabilities?.drop, where).toEqual(["ALL"]);
        expect(sc?.capabilities?.add, where).toBeUndefined();
        expect(sc?.privileged, where).not.toBe(true);
      }
    }
  });

  it("should set on each container exactly the env names the contract gives its command", () => {
    // GIVEN the contract (envFor), the proxy, capabilities and extraEnv values of the scenario
    for (const { owner, spec } of podSpecs(scenarioRendering(name))) {
      for (const { container } of containersOf(spec)) {
        // WHEN reading the names the container sets  THEN they are exactly the derived ones
        const names = (container.env ?? []).map((e) => e.name);
        const expected = expectedEnvNames(commandOf(container), merged);
        expect([...names].sort(), `${owner} ${container.name}`).toEqual([...expected].sort());
        expect(new Set(names).size, `${owner} ${container.name}: duplicate env`).toBe(names.length);
        expect(container.envFrom, `${owner} ${container.name}`).toBeUndefined();
      }
    }
  });

  it("should run every container from the chart's image with its command of the image", () => {
    for (const { owner, spec } of podSpecs(scenarioRendering(name))) {
      for (const { container } of containersOf(spec)) {
        expect(() => commandOf(container), owner).not.toThrow();
        expect(container.command, `${owner} ${container.name}`).toEqual([COMMAND_OF_CONTAINER[container.name]]);
        expect(container.args, owner).toBeUndefined();
      }
    }
  });
});
