import { describe, expect, it } from "vitest";
import { ciScenarios } from "../support/chart.ts";
import { renderScenario } from "../support/helm.ts";

/**
 * Whole-output snapshots, one file per ci scenario: a reviewer sees every change to what the
 * chart renders as a diff. Update deliberately with `npx vitest run -u`.
 */
describe.each(ciScenarios())("golden rendering of the $name scenario", ({ name }) => {
  it("should match test/render/golden/<scenario>.yaml", async () => {
    await expect(renderScenario(name)).toMatchFileSnapshot(`golden/${name}.yaml`);
  });
});
