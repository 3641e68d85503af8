import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { ciScenarios } from "../support/chart.ts";
import { renderScenario } from "../support/helm.ts";
import { parseDocuments } from "../support/manifests.ts";
import { CHART_PATH, REPO } from "../support/repo.ts";
import { runSync, type RunResult } from "../support/process.ts";
import { kubeSchemaLocation, kubeSchemaVersions, tool, toolchainEnv } from "../support/tools.ts";

/**
 * The chart through the tools CI runs: helm lint --strict, ct lint (yamale + yamllint + helm
 * lint per scenario, configured by ct/ and schema/chart_schema.yaml), and kubeconform -strict with the offline schemas of
 * every Kubernetes version in KUBE_SCHEMA_VERSIONS.
 */

const scenarios = ciScenarios();
const versions = kubeSchemaVersions();

function kubeconform(version: string, manifests: string): RunResult {
  return runSync(tool("kubeconform"), ["-strict", "-summary", "-kubernetes-version", version, "-schema-location", kubeSchemaLocation(version), "-"], {
    input: manifests,
  });
}

describe("helm lint --strict", () => {
  it.each(scenarios)("should pass with the $name scenario", ({ file }) => {
    const r = runSync(tool("helm"), ["lint", "--strict", CHART_PATH, "--values", file]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("1 chart(s) linted, 0 chart(s) failed");
  });
});

describe("ct lint", () => {
  it("should pass with ct/ct.yaml, ct/lintconf.yaml and schema/chart_schema.yaml", () => {
    // ct runs helm, yamllint and yamale from PATH; resolve them here so a missing one names the fix.
    for (const name of ["helm", "yamllint", "yamale"] as const) tool(name);
    const r = runSync(
      tool("ct"),
      ["lint", "--config", "ct/ct.yaml", "--lint-conf", "ct/lintconf.yaml", "--chart-yaml-schema", "schema/chart_schema.yaml", "--charts", "chart/azp-agent"],
      { cwd: REPO, env: toolchainEnv() },
    );
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("All charts linted successfully");
    // ct lints once per ci/*-values.yaml: every scenario was seen.
    for (const { name } of scenarios) expect(r.output).toContain(`ci/${name}-values.yaml`);
  });
});

describe("kubeconform -strict with the offline schemas", () => {
  it("should validate against at least two Kubernetes versions", () => {
    expect(versions.length).toBeGreaterThanOrEqual(2);
  });

  const cases = scenarios.flatMap(({ name }) => versions.map((version) => ({ name, version })));
  it.each(cases)("should find the $name rendering valid for Kubernetes $version", ({ name, version }) => {
    const manifests = renderScenario(name);
    const count = parseDocuments(manifests).length;
    const r = kubeconform(version, manifests);
    expect(r.code, r.output).toBe(0);
    // Every resource validated: none invalid, none in error, none skipped for want of a schema.
    expect(r.output).toContain(`Valid: ${count}, Invalid: 0, Errors: 0, Skipped: 0`);
  });

  it.each(versions)("should reject the defaults rendering with one Deployment field mangled, for Kubernetes %s", (version) => {
    // GIVEN the defaults rendering with a typo in one field of the Deployment's pod spec
    const docs = parseDocuments(renderScenario("defaults")) as { kind?: string; spec?: { template?: { spec?: Record<string, unknown> } } }[];
    const deployment = docs.find((d) => d.kind === "Deployment");
    const podSpec = deployment?.spec?.template?.spec;
    if (podSpec === undefined) throw new Error("no Deployment pod spec in the defaults rendering");
    podSpec["automountServiceAccountTokn"] = podSpec["automountServiceAccountToken"];
    delete podSpec["automountServiceAccountToken"];
    const mangled = docs.map((d) => yaml.dump(d)).join("---\n");
    // WHEN validated  THEN exactly that resource is invalid, for that field
    const r = kubeconform(version, mangled);
    expect(r.code).toBe(1);
    expect(r.output).toContain(`Valid: ${docs.length - 1}, Invalid: 1, Errors: 0`);
    expect(r.output).toMatch(/Deployment .*additional properties 'automountServiceAccountTokn' not allowed/);
  });
});
