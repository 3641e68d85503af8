import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GeneratedFiles } from "../../generator/chart/files.ts";
import { drift } from "../../generator/chart/generated-files-on-disk.ts";

describe("drift between generate() and the files on disk", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("should report missing, changed and stale files, and nothing outside the roots", () => {
    // GIVEN a tree with one current, one changed and one stale file, and an unrelated file
    dir = mkdtempSync(join(tmpdir(), "azp-drift-"));
    mkdirSync(join(dir, "out/sub"), { recursive: true });
    writeFileSync(join(dir, "out/current.txt"), "same");
    writeFileSync(join(dir, "out/sub/changed.txt"), "old");
    writeFileSync(join(dir, "out/stale.txt"), "gone");
    writeFileSync(join(dir, "elsewhere.txt"), "not ours");
    const files = new GeneratedFiles();
    files.add("out/current.txt", "same");
    files.add("out/sub/changed.txt", "new");
    files.add("out/missing.txt", "created");
    // WHEN the drift is computed THEN each difference is named once
    expect(drift(dir, ["out"], files)).toEqual([
      { path: "out/missing.txt", kind: "missing" },
      { path: "out/sub/changed.txt", kind: "changed" },
      { path: "out/stale.txt", kind: "stale" },
    ]);
  });

  it("should take a file as a root of its own, leaving its neighbours alone", () => {
    // GIVEN a generated file next to a hand-written one in the same folder
    dir = mkdtempSync(join(tmpdir(), "azp-drift-"));
    mkdirSync(join(dir, "schema"));
    writeFileSync(join(dir, "schema/values.schema.json"), "{}");
    writeFileSync(join(dir, "schema/chart_schema.yaml"), "hand-written");
    const files = new GeneratedFiles();
    files.add("schema/values.schema.json", "{}");
    // WHEN the root is the file  THEN there is no drift, and the neighbour is not stale
    expect(drift(dir, ["schema/values.schema.json"], files)).toEqual([]);
    // AND a root file that is no longer generated is stale
    expect(drift(dir, ["schema/values.schema.json"], new GeneratedFiles())).toEqual([{ path: "schema/values.schema.json", kind: "stale" }]);
  });
});
