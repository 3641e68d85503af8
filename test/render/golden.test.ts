import { describe, expect, it } from "vitest";
import { ciScenarios } from "../support/chart.ts";
import { GOLDENS_COMMAND, readGolden, staleGoldens } from "../support/goldens.ts";
import { renderScenario } from "../support/helm.ts";

/**
 * Whole-output snapshots, one file per ci scenario: a reviewer sees every change to what the
 * chart renders as a diff. Tests only read them; `npm run goldens` writes them.
 */
describe.each(ciScenarios())("golden rendering of the $name scenario", ({ name }) => {
  it("should match test/render/golden/<scenario>.yaml", () => {
    expect(renderScenario(name), `the rendering differs from test/render/golden/${name}.yaml; if that is intended, run \`${GOLDENS_COMMAND}\` and review the diff`).toBe(
      readGolden(name),
    );
  });
});

describe("the golden files", () => {
  it("should each belong to a ci scenario", () => {
    expect(staleGoldens()).toEqual([]);
  });
});
