import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { release } from "../../generator/contract/release.ts";
import { ciScenario } from "../support/chart.ts";
import { NAMESPACE, fullnameOf, render } from "../support/helm.ts";
import { Rendering, containersOf, podSpecs } from "../support/manifests.ts";
import type { JsonObject } from "../support/values.ts";

/**
 * Several releases share a namespace (one per team or pool): every name the chart creates or
 * refers to must come from the release, none may be hard-coded.
 */

const defaultsFile = ciScenario("defaults").file;
const renderDefaults = (releaseName: string, values: JsonObject[] = []): Rendering =>
  new Rendering(render({ release: releaseName, namespace: NAMESPACE, valuesFiles: [defaultsFile], values }));

/** Every name of a chart-owned object the rendering creates or refers to, labelled by where it is. */
function namesInUse(rendering: Rendering): { where: string; name: string }[] {
  const found: { where: string; name: string }[] = [];
  const add = (where: string, name: string | undefined): void => {
    if (name !== undefined) found.push({ where, name });
  };
  for (const r of rendering.resources) if (r.kind !== "Namespace") add(`${r.kind} metadata.name`, r.metadata?.name);
  for (const { owner, spec } of podSpecs(rendering)) {
    add(`${owner} serviceAccountName`, spec.serviceAccountName);
    for (const v of spec.volumes ?? []) add(`${owner} volume ${v.name} secretName`, v.secret?.secretName);
    for (const { container } of containersOf(spec)) add(`${owner} ${container.name} ${imageContract.env.deployment.name}`, container.env?.find((e) => e.name === imageContract.env.deployment.name)?.value);
  }
  for (const b of rendering.all("RoleBinding")) {
    add(`RoleBinding ${b.metadata?.name} roleRef`, b.roleRef.name);
    for (const s of b.subjects ?? []) add(`RoleBinding ${b.metadata?.name} subject`, s.name);
  }
  for (const r of rendering.all("Role")) for (const rule of r.rules ?? []) for (const n of rule.resourceNames ?? []) add(`Role ${r.metadata?.name} resourceNames`, n);
  return found;
}

describe("resource names", () => {
  it("should give two releases in one namespace disjoint resource names", () => {
    // GIVEN two releases of the defaults in the same namespace
    const ids = (name: string): string[] => renderDefaults(name).ids();
    const alpha = ids("alpha");
    const beta = ids("beta");
    // THEN no Kind/name of one is also one of the other
    expect(alpha.filter((id) => beta.includes(id))).toEqual([]);
    expect(new Set(alpha).size).toBe(alpha.length);
  });

  it("should derive every name and reference from the fullname for a release named team-a", () => {
    const names = namesInUse(renderDefaults("team-a"));
    expect(names.length).toBeGreaterThan(10);
    const prefix = fullnameOf("team-a");
    expect(names.filter(({ name }) => name !== prefix && !name.startsWith(`${prefix}-`))).toEqual([]);
  });

  it("should hard-code no name: with fullnameOverride, no reference contains the chart's or the token volume's name", () => {
    // GIVEN a fullname that does not contain the chart name
    const names = namesInUse(renderDefaults("team-a", [{ fullnameOverride: "team-a" }]));
    // THEN neither `azp-agent` nor `azp-token` appears in any name the chart creates or refers to
    const hardCoded = names.filter(({ name }) => name.includes(release.chartName) || name.includes(imageContract.volumes.token));
    expect(hardCoded).toEqual([]);
    expect(names.every(({ name }) => name === "team-a" || name.startsWith("team-a-"))).toBe(true);
  });

  it("should truncate long release names so that every name stays a valid DNS label, suffix included", () => {
    const longRelease = "a-very-long-release-name-that-goes-on-and-on";
    for (const { where, name } of namesInUse(renderDefaults(longRelease))) {
      expect(name.length, where).toBeLessThanOrEqual(63);
      expect(name, where).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    // The CronJob controller appends 11 characters to Job names: CronJob names are limited to 52.
    for (const cron of renderDefaults(longRelease).all("CronJob")) expect(cron.metadata?.name?.length).toBeLessThanOrEqual(52);
  });
});

describe("names that YAML could read as another type", () => {
  // Each of these values is accepted by the schema (or is a valid release name); rendered
  // unquoted, YAML reads it as a number, boolean or null and the object no longer validates.
  it.each<{ case: string; release?: string; values: JsonObject }>([
    { case: "a numeric release name", release: "1234", values: {} },
    { case: "a numeric nameOverride", values: { nameOverride: "5678" } },
    { case: "a numeric fullnameOverride", values: { fullnameOverride: "5678" } },
    { case: "a numeric existing Secret with key `true`", values: { azp: { token: "", existingSecret: "1234", existingSecretKey: "true" } } },
    { case: "a Secret key `null`", values: { azp: { token: "", existingSecret: "pat", existingSecretKey: "null" } } },
    { case: "numeric existing ServiceAccounts", values: { serviceAccount: { create: false, name: "1234" }, refresh: { serviceAccount: { create: false, name: "5678" } } } },
    { case: "a numeric namespace", values: { namespace: { create: true, name: "1234" } } },
    { case: "a capability named `true`", values: { agent: { capabilities: { true: "yes" } } } },
  ])("should render valid objects for $case", ({ release: releaseName, values }) => {
    // WHEN rendered and every document is wrapped and validated  THEN nothing throws
    expect(() => renderDefaults(releaseName ?? "ci", [values])).not.toThrow();
  });
});
