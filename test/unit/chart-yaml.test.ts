import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { chartYaml } from "../../generator/chart/chart-yaml.ts";
import { release } from "../../generator/contract/release.ts";

describe("Chart.yaml emitter", () => {
  const chart = yaml.load(chartYaml()) as Record<string, unknown>;

  it.each([
    { field: "apiVersion", expected: "v2" },
    { field: "name", expected: release.chartName },
    { field: "version", expected: release.chartVersion },
    { field: "appVersion", expected: release.imageTag },
    { field: "kubeVersion", expected: release.kubeVersion },
    { field: "description", expected: release.description },
    { field: "home", expected: release.home },
    { field: "type", expected: "application" },
  ])("should set $field from the release contract", ({ field, expected }) => {
    expect(chart[field]).toBe(expected);
  });

  it("should name the image the chart is tested with, at the chart's appVersion", () => {
    const annotations = chart["annotations"] as Record<string, string>;
    const images = yaml.load(annotations["artifacthub.io/images"] ?? "") as { image: string }[];
    expect(images.map((i) => i.image)).toEqual([`${release.imageRepository}:${release.imageTag}`]);
    expect(annotations["azp-agent/agent-version"]).toBe(release.agentVersion);
  });

  it("should keep every annotation a string (Chart.yaml annotations are map[string]string)", () => {
    for (const [key, value] of Object.entries(chart["annotations"] as object)) expect(typeof value, key).toBe("string");
  });
});
