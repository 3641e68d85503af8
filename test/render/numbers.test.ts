import { describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { ciScenario } from "../support/chart.ts";
import { render } from "../support/helm.ts";
import { containerNamed, envValue, podSpecOf, Rendering } from "../support/manifests.ts";

/**
 * A values file's number is a float64 in Helm, which prints 2000000 as `2e+06`: the image's
 * settings and the API server's integer fields refuse that. Every whole number renders as digits.
 */

const { containers, env } = imageContract;
const base = ciScenario("defaults");

describe("whole numbers of a million and more", () => {
  const values = { terminationGracePeriodSeconds: 2000000, agent: { maxLifetimeSeconds: 31536000 }, gc: { successfulJobsHistoryLimit: 1000000 } };
  const rendering = new Rendering(render({ valuesFiles: [base.file], values: [values] }));
  const pod = podSpecOf(rendering.one("Deployment"));

  it("should render integer fields as digits", () => {
    expect(rendering.text).toContain("terminationGracePeriodSeconds: 2000000\n");
    expect(rendering.text).toContain("successfulJobsHistoryLimit: 1000000\n");
    expect(rendering.text).not.toMatch(/e\+0\d/);
    expect(pod.terminationGracePeriodSeconds).toBe(2000000);
  });

  it("should give the image its settings as digits", () => {
    expect(envValue(containerNamed(pod, containers.deregister), env.maxLifetimeSeconds.name)).toBe("31536000");
    expect(envValue(containerNamed(pod, containers.agent), env.stopGraceSeconds.name)).toBe("2000000");
  });
});
