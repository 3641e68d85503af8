import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { drift } from "./chart/generated-files-on-disk.ts";
import { GENERATED_ROOTS, generate } from "./generate.ts";

/** The thin CLI around the pure generator: writes files, removes stale ones, `--check` fails on drift. */

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function main(argv: string[]): number {
  const check = argv.includes("--check");
  const files = generate();
  const changes = drift(repo, GENERATED_ROOTS, files);
  if (check) {
    if (changes.length === 0) {
      console.log(`generated files up to date (${files.paths().length})`);
      return 0;
    }
    console.error(`generated files are out of date:\n  ${changes.map((c) => `${c.kind}: ${c.path}`).join("\n  ")}\nrun: npm run generate`);
    return 1;
  }
  for (const change of changes) {
    const full = join(repo, change.path);
    if (change.kind === "stale") {
      rmSync(full);
      continue;
    }
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, files.get(change.path));
  }
  console.log(`wrote ${changes.filter((c) => c.kind !== "stale").length} of ${files.paths().length} generated files, removed ${changes.filter((c) => c.kind === "stale").length} stale`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
