import { describe, expect, it } from "vitest";
import { Rendering, scenarioRendering } from "../support/manifests.ts";
import { renderScenario } from "../support/helm.ts";

/** The pod template carries a checksum of the chart-managed Secret, so a new PAT rolls the agents. */

const CHECKSUM = "checksum/secret";
const checksumOf = (rendering: Rendering): string | undefined =>
  rendering.one("Deployment").spec?.template.metadata?.annotations?.[CHECKSUM];

describe("checksum/secret annotation", () => {
  it("should be a sha256 of the Secret with the chart-managed token", () => {
    expect(checksumOf(scenarioRendering("defaults"))).toMatch(/^[0-9a-f]{64}$/);
  });

  it("should change when azp.token changes", () => {
    const before = checksumOf(scenarioRendering("defaults"));
    const after = checksumOf(scenarioRendering("defaults", { values: [{ azp: { token: "another-fake-pat" } }] }));
    expect(after).toMatch(/^[0-9a-f]{64}$/);
    expect(after).not.toBe(before);
  });

  it("should stay the same for the same token (no spurious rollouts)", () => {
    const first = new Rendering(renderScenario("defaults", { values: [{ azp: { token: "same-pat" } }] }));
    const again = new Rendering(renderScenario("defaults", { values: [{ azp: { token: "same-pat" } }, {}] }));
    expect(checksumOf(again)).toBe(checksumOf(first));
  });

  it("should be absent with azp.existingSecret (the chart does not own that Secret)", () => {
    const annotations = scenarioRendering("defaults", { values: [{ azp: { token: "", existingSecret: "byo-pat" } }] }).one("Deployment").spec
      ?.template.metadata?.annotations;
    expect(annotations).toBeDefined();
    expect(Object.keys(annotations ?? {})).not.toContain(CHECKSUM);
  });
});
