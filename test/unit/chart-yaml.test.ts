import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { changesFor } from "../../generator/chart/changelog.ts";
import { chartYaml } from "../../generator/chart/chart-yaml.ts";
import { release } from "../../generator/contract/release.ts";

const CHANGELOG = ["# Changelog", "", "## [Unreleased]", "", `## [${release.chartVersion}] - 2026-12-02`, "", "### Added", "", "- One thing.", "- Another thing.", "", "### Security", "", "- Signed.", "", "## [0.0.9] - 2026-01-01", "", "### Fixed", "", "- Old."].join("\n");
const DIGEST = `sha256:${"ab".repeat(32)}`;

type Chart = Record<string, unknown> & { annotations: Record<string, string> };
const load = (text: string): Chart => yaml.load(text) as Chart;

describe("Chart.yaml emitter", () => {
  const chart = load(chartYaml(CHANGELOG));

  it.each([
    { field: "apiVersion", expected: "v2" },
    { field: "name", expected: "azp-agent" },
    { field: "version", expected: "0.1.0" },
    { field: "appVersion", expected: "0.1.0" },
    { field: "kubeVersion", expected: ">=1.29.0-0" },
    { field: "home", expected: "https://github.com/azp-agent/azp-agent" },
    { field: "type", expected: "application" },
  ])("should set $field from the release contract", ({ field, expected }) => {
    expect(chart[field]).toBe(expected);
  });

  it("should name the image by tag only while unreleased, at the default registry, for both architectures", () => {
    expect(yaml.load(chart.annotations["artifacthub.io/images"]!)).toEqual([
      { name: "azp-agent", image: "ghcr.io/azp-agent/azp-agent:0.1.0", platforms: ["linux/amd64", "linux/arm64"] },
    ]);
    expect(chart.annotations["artifacthub.io/signKey"]).toBeUndefined();
  });

  it("should name the released image by tag and digest in its registry, and the signing key, when stamped", () => {
    const stamped = load(chartYaml(CHANGELOG, { registry: "registry.example/team", imageDigest: DIGEST, signKeyFingerprint: "0f".repeat(32) }));
    expect(yaml.load(stamped.annotations["artifacthub.io/images"]!)).toEqual([
      { name: "azp-agent", image: `registry.example/team/azp-agent:0.1.0@${DIGEST}`, platforms: ["linux/amd64", "linux/arm64"] },
    ]);
    expect(yaml.load(stamped.annotations["artifacthub.io/signKey"]!)).toEqual({
      fingerprint: "0f".repeat(32),
      url: "https://github.com/azp-agent/azp-agent/releases/download/v0.1.0/cosign.pub",
    });
  });

  it("should carry the chart version's changelog section as Artifact Hub changes, and the license", () => {
    expect(yaml.load(chart.annotations["artifacthub.io/changes"]!)).toEqual([
      { kind: "added", description: "One thing." },
      { kind: "added", description: "Another thing." },
      { kind: "security", description: "Signed." },
    ]);
    expect(chart.annotations["artifacthub.io/license"]).toBe("MIT");
    expect(chart.annotations["azp-agent/agent-version"]).toBe(release.agentVersion);
  });

  it("should keep every annotation a string (Chart.yaml annotations are map[string]string)", () => {
    for (const [key, value] of Object.entries(chart.annotations)) expect(typeof value, key).toBe("string");
  });
});

describe("changelog reader", () => {
  it.each([
    { name: "a missing version section", text: "## [0.0.9] - 2026-01-01\n### Fixed\n- Old.", message: 'CHANGELOG.md has no section "## [0.1.0] - <date>": add the release notes of 0.1.0 before generating its chart' },
    { name: "an unknown heading", text: "## [0.1.0] - x\n### Improved\n- A.", message: 'CHANGELOG.md:2: unknown heading "### Improved" (use one of: Added, Changed, Deprecated, Removed, Fixed, Security)' },
    { name: "an entry without a kind", text: "## [0.1.0] - x\n- A.", message: 'CHANGELOG.md:2: entry before any "### <kind>" heading in [0.1.0]' },
    { name: "prose instead of entries", text: "## [0.1.0] - x\n### Added\nSome prose.", message: 'CHANGELOG.md:3: not an entry: write one "- " line per change in [0.1.0]' },
    { name: "an empty section", text: "## [0.1.0] - x\n\n## [0.0.9]\n### Fixed\n- Old.", message: "CHANGELOG.md: [0.1.0] lists no changes" },
  ])("should refuse $name", ({ text, message }) => {
    expect(() => changesFor(text, "0.1.0")).toThrow(message);
  });

  it("should not take 0.1.0's section for 0.1.01 or a version that merely starts alike", () => {
    expect(() => changesFor("## [0.1.0] - x\n### Added\n- A.", "0.1")).toThrow('no section "## [0.1]');
    expect(() => changesFor("## [0.1.01] - x\n### Added\n- A.", "0.1.0")).toThrow('no section "## [0.1.0]');
  });

  it("should read the project's own CHANGELOG.md for the chart version", async () => {
    const { readFileSync } = await import("node:fs");
    const changes = changesFor(readFileSync(new URL("../../CHANGELOG.md", import.meta.url), "utf8"), release.chartVersion);
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.every((c) => c.description.length > 0)).toBe(true);
  });
});
