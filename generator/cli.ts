import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GENERATED_ROOTS, generate } from "./generate.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Files currently on disk under the generated roots (repo-relative). */
function filesOnDisk(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else found.push(relative(repo, full));
    }
  };
  for (const root of GENERATED_ROOTS) walk(join(repo, root));
  return found.sort();
}

function main(argv: string[]): number {
  const check = argv.includes("--check");
  const files = generate();
  const wanted = new Set(files.paths());
  const drift: string[] = [];
  for (const [path, content] of files.entries()) {
    const full = join(repo, path);
    const current = existsSync(full) ? readFileSync(full, "utf8") : undefined;
    if (current === content) continue;
    drift.push(`${current === undefined ? "missing" : "changed"}: ${path}`);
    if (!check) {
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
  }
  for (const path of filesOnDisk()) {
    if (wanted.has(path)) continue;
    drift.push(`stale: ${path}`);
    if (!check) rmSync(join(repo, path));
  }
  if (check && drift.length > 0) {
    console.error(`generated files are out of date:\n  ${drift.join("\n  ")}\nrun: npm run generate`);
    return 1;
  }
  console.log(check ? `generated files up to date (${wanted.size})` : `wrote ${drift.length} of ${wanted.size} generated files`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
