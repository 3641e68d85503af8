import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { drift } from "./chart/generated-files-on-disk.ts";
import { parseArgs } from "node:util";
import { CHART_DIR, GENERATED_ROOTS, generate } from "./generate.ts";
import { release, type ReleaseStamp } from "./contract/release.ts";
import { patterns } from "./model/schema-patterns.ts";

/**
 * The thin CLI around the generator: writes files, removes stale ones, `--check` fails on drift.
 * `--stamp-out DIR --registry R --image-digest D [--sign-key-fingerprint F]` writes the chart a
 * release publishes (pulling R's image by digest D) into DIR/<chart name> instead, leaving the
 * committed chart alone (tools/release.sh).
 */

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function stampedChart(out: string, stamp: ReleaseStamp): number {
  const problems = [
    new RegExp(patterns.imageRepository).test(stamp.registry) ? "" : `--registry '${stamp.registry}' is not an OCI namespace like ghcr.io/owner`,
    stamp.imageDigest !== "" && new RegExp(patterns.imageDigest).test(stamp.imageDigest) ? "" : `--image-digest '${stamp.imageDigest}' is not sha256:<64 lowercase hex>`,
    stamp.signKeyFingerprint === undefined || /^[a-f0-9]{64}$/.test(stamp.signKeyFingerprint) ? "" : `--sign-key-fingerprint '${stamp.signKeyFingerprint}' is not 64 lowercase hex`,
  ].filter((p) => p !== "");
  if (problems.length > 0) {
    console.error(`generator: ${problems.join("; ")}`);
    return 2;
  }
  const files = generate(stamp);
  const target = join(resolve(out), release.chartName);
  rmSync(target, { recursive: true, force: true });
  for (const path of files.paths().filter((p) => p.startsWith(`${CHART_DIR}/`))) {
    const full = join(target, path.slice(CHART_DIR.length + 1));
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, files.get(path));
  }
  console.log(target);
  return 0;
}

function main(argv: string[]): number {
  const { values: options } = parseArgs({
    args: argv,
    options: {
      check: { type: "boolean", default: false },
      "stamp-out": { type: "string" },
      registry: { type: "string", default: release.registry },
      "image-digest": { type: "string", default: "" },
      "sign-key-fingerprint": { type: "string" },
    },
  });
  if (options["stamp-out"] !== undefined) {
    const fingerprint = options["sign-key-fingerprint"];
    return stampedChart(options["stamp-out"], {
      registry: options.registry,
      imageDigest: options["image-digest"],
      ...(fingerprint === undefined ? {} : { signKeyFingerprint: fingerprint }),
    });
  }
  const check = options.check;
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
