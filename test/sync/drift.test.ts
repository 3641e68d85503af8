import { describe, expect, it } from "vitest";
import { drift } from "../../generator/chart/generated-files-on-disk.ts";
import { GENERATED_ROOTS, generate } from "../../generator/generate.ts";
import { REPO } from "../support/repo.ts";

/** The drift gate (style.md rule 2): the generated files on disk are exactly what generate() says. */

const FIX = "run `npm run generate` and commit the result";

describe("generated files", () => {
  const changes = drift(REPO, GENERATED_ROOTS, generate());

  it("should all exist on disk with the generated content", () => {
    const outOfDate = changes.filter((c) => c.kind !== "stale").map((c) => `${c.kind}: ${c.path}`);
    expect(outOfDate, `out of date — ${FIX}`).toEqual([]);
  });

  it("should leave nothing stale under the generated roots", () => {
    const stale = changes.filter((c) => c.kind === "stale").map((c) => c.path);
    expect(stale, `stale generated files — ${FIX}`).toEqual([]);
  });
});
