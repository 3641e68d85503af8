// Agent image start-up benchmark (not a test): one run on this machine measures
//   - the image size (with a fake agent package of realistic size baked in),
//   - the time from the pod's start (the register init container starting) to the agent's
//     "Listening for Jobs", with the baked agent and with download-at-start,
// against the in-process fake Azure DevOps serving a ~170 MB package (build-package.sh --pad-mb).
// Times come from the Docker daemon's own timestamps (container StartedAt, log timestamps).
//
// Usage: npx tsx bench/image-startup.ts [--pad-mb 170] [--runs 3] [--json]
import { parseArgs } from "node:util";
import { imageContract } from "../generator/contract/image.ts";
import { containerLogs, dockerOk } from "../test/image/support/docker.ts";
import { LISTENING, POOL, PAT, agentPackage, buildTestImage, ensureDocker, startFake } from "../test/image/support/environment.ts";
import { FakePod } from "../test/image/support/pod.ts";

interface Sample {
  /** Pod start (register StartedAt) → "Listening for Jobs". */
  totalMs: number;
  /** The register init container alone (copy or download + verify + extract, and config.sh). */
  registerMs: number;
}

const { values } = parseArgs({
  options: { "pad-mb": { type: "string", default: "170" }, runs: { type: "string", default: "3" }, json: { type: "boolean", default: false } },
});
const padMb = Number(values["pad-mb"]);
const runs = Number(values.runs);
if (!Number.isInteger(padMb) || padMb < 0 || !Number.isInteger(runs) || runs < 1) {
  process.stderr.write("usage: npx tsx bench/image-startup.ts [--pad-mb N] [--runs N] [--json]\n");
  process.exit(2);
}

const log = (message: string): void => {
  process.stderr.write(`bench/image-startup: ${message}\n`);
};

async function startedAt(container: string): Promise<number> {
  return Date.parse(await dockerOk(["inspect", "--format", "{{.State.StartedAt}}", container]));
}

async function finishedAt(container: string): Promise<number> {
  return Date.parse(await dockerOk(["inspect", "--format", "{{.State.FinishedAt}}", container]));
}

/** Timestamp (docker's, from `logs --timestamps`) of the first line containing `text`. */
function logTime(logs: string, text: string): number | undefined {
  const line = logs.split("\n").find((l) => l.includes(text));
  return line === undefined ? undefined : Date.parse(line.slice(0, line.indexOf(" ")));
}

async function measure(image: string, url: string, source: "baked" | "download"): Promise<Sample> {
  const pod = new FakePod({ image, url, pool: POOL, token: PAT, name: `azp-bench-${source}-${Date.now().toString(36)}`, env: { register: { [imageContract.env.agentSource.name]: source } } });
  try {
    const r = await pod.register(600_000);
    if (r.exitCode !== 0) throw new Error(`register (${source}) exited ${r.exitCode}:\n${r.output}`);
    await pod.startDeregister();
    await pod.startAgent();
    const logs = await pod.waitForLog("agent", LISTENING, 300_000);
    const podStart = await startedAt(pod.containerName("register"));
    const listening = logTime(logs, LISTENING);
    if (listening === undefined) throw new Error(`no timestamped 'Listening for Jobs' line:\n${await containerLogs(pod.containerName("agent"))}`);
    return { totalMs: listening - podStart, registerMs: (await finishedAt(pod.containerName("register"))) - podStart };
  } finally {
    await pod.signal("agent");
    await pod.waitForExit("agent", 30_000).catch(() => undefined);
    await pod.waitForExit("deregister", 30_000).catch(() => undefined);
    await pod.remove();
  }
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  await ensureDocker();
  log(`building the fake agent package padded with ${padMb} MiB`);
  const pkg = await agentPackage(padMb);
  const fake = await startFake(pkg);
  try {
    log(`building the image with it baked in (${mb(pkg.bytes)} package)`);
    const image = await buildTestImage(fake, pkg);
    const imageBytes = Number(await dockerOk(["image", "inspect", "--format", "{{.Size}}", image]));
    const samples: Record<"baked" | "download", Sample[]> = { baked: [], download: [] };
    for (let run = 1; run <= runs; run++) {
      for (const source of ["baked", "download"] as const) {
        fake.reset();
        const sample = await measure(image, fake.url, source);
        samples[source].push(sample);
        log(`run ${run}/${runs} ${source}: ${seconds(sample.totalMs)} to Listening for Jobs (register ${seconds(sample.registerMs)})`);
      }
    }
    const baked = median(samples.baked.map((s) => s.totalMs));
    const download = median(samples.download.map((s) => s.totalMs));
    const result = {
      image,
      imageBytes,
      packageBytes: pkg.bytes,
      runs,
      bakedMs: baked,
      downloadMs: download,
      bakedRegisterMs: median(samples.baked.map((s) => s.registerMs)),
      downloadRegisterMs: median(samples.download.map((s) => s.registerMs)),
      downloadOverBaked: download / baked,
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    process.stdout.write(
      [
        `agent image start-up (${runs} run(s) each, medians; fake agent package ${mb(pkg.bytes)})`,
        `  image size:                         ${mb(imageBytes)} (${image})`,
        `  pod start -> Listening, baked:      ${seconds(baked)} (register ${seconds(result.bakedRegisterMs)})`,
        `  pod start -> Listening, download:   ${seconds(download)} (register ${seconds(result.downloadRegisterMs)})`,
        `  download / baked:                   ${result.downloadOverBaked.toFixed(2)}x`,
        "",
      ].join("\n"),
    );
  } finally {
    await fake.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/image-startup: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
