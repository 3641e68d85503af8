// Agent image start-up benchmark (not a test): one run on this machine measures
//   - the image size (with a fake agent package of realistic size baked in),
//   - the time from the pod's start (the register init container starting) to the agent's
//     "Listening for Jobs", with the baked agent and with download-at-start,
// against the in-process fake Azure DevOps serving a ~170 MB package (build-package.sh --pad-mb),
// over several links in the same run:
//   - loopback (unshaped reference): the pod's containers on the host network, as the image tests;
//   - a local link shaped to each rate of --rates (Mbit/s): the containers on a dedicated Docker
//     bridge whose device carries a tc token bucket (bench/shaped-link.ts), the fake reached at the
//     bridge's gateway address. Baked and download pods use the same link, so the ratio compares
//     like with like (a baked pod still talks to Azure DevOps over it).
// Each link reports the median of --runs pods per mode, the ratio download/baked, and the
// throughput the download really got (package bytes / the fake's time serving it), next to the
// nominal rate: the proof that the shaping is real.
// Times come from the Docker daemon's own timestamps (container StartedAt, log timestamps).
//
// Usage: npx tsx bench/image-startup.ts [--pad-mb 170] [--runs 3] [--rates 50,200,1000] [--json]
//   --rates '' measures loopback only. Needs root (tc) for the shaped links.
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { imageContract } from "../generator/contract/image.ts";
import type { FakeAdo } from "../test/fake-ado/server.ts";
import { makeTestTls } from "../test/support/test-tls.ts";
import { containerLogs, dockerOk } from "../test/image/support/docker.ts";
import { LISTENING, POOL, PAT, agentPackage, buildTestImage, ensureDocker, startFake } from "../test/image/support/environment.ts";
import { FakePod } from "../test/image/support/pod.ts";
import { createShapedLink, type ShapedLink } from "./shaped-link.ts";

type Source = "baked" | "download";

interface Sample {
  /** Pod start (register StartedAt) → "Listening for Jobs". */
  totalMs: number;
  /** The register init container alone (copy or download + verify + extract, and config.sh). */
  registerMs: number;
  /** Download mode: the fake's time serving the package (request → last byte handed to the socket). */
  transferMs?: number;
}

interface LinkResult {
  /** `loopback` or `<rate> Mbit/s`. */
  link: string;
  /** Nominal rate of the shaping; null = unshaped loopback. */
  nominalMbit: number | null;
  /** Median throughput of the package downloads, package bytes × 8 / transfer time. */
  measuredMbit: number;
  transferMs: number;
  bakedMs: number;
  downloadMs: number;
  bakedRegisterMs: number;
  downloadRegisterMs: number;
  downloadOverBaked: number;
  samples: Record<Source, Sample[]>;
}

const usage = "usage: npx tsx bench/image-startup.ts [--pad-mb N] [--runs N] [--rates MBIT,MBIT,...] [--json]\n";
const { values } = parseArgs({
  options: {
    "pad-mb": { type: "string", default: "170" },
    runs: { type: "string", default: "3" },
    rates: { type: "string", default: "50,200,1000" },
    json: { type: "boolean", default: false },
  },
});
const padMb = Number(values["pad-mb"]);
const runs = Number(values.runs);
const rates = values.rates.trim() === "" ? [] : values.rates.split(",").map((r) => Number(r.trim()));
if (!Number.isInteger(padMb) || padMb < 0 || !Number.isInteger(runs) || runs < 1 || rates.some((r) => !Number.isFinite(r) || r <= 0)) {
  process.stderr.write(usage);
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

interface Where {
  /** Docker network of the pod's containers. */
  network: string;
  /** Organization URL as the pod sees it. */
  url: string;
}

/** Pods being measured: removed on SIGINT/SIGTERM too (the shaped network cannot go while they use it). */
const livePods = new Set<FakePod>();

async function measure(image: string, fake: FakeAdo, caFile: string, where: Where, source: Source): Promise<Sample> {
  fake.reset();
  const pod = new FakePod({
    image,
    url: where.url,
    pool: POOL,
    token: PAT,
    caFile,
    network: where.network,
    name: `azp-bench-${source}-${Date.now().toString(36)}`,
    env: { register: { [imageContract.env.agentSource.name]: source } },
  });
  livePods.add(pod);
  try {
    const r = await pod.register(900_000);
    if (r.exitCode !== 0) throw new Error(`register (${source}) exited ${r.exitCode}:\n${r.output}`);
    const downloads = fake.requests().filter((q) => q.method === "GET" && q.path.startsWith("/_downloads/") && q.status === 200);
    if (source === "download" && downloads.length !== 1) throw new Error(`expected one package download, the fake served ${downloads.length}`);
    if (source === "baked" && downloads.length !== 0) throw new Error(`the baked pod downloaded the package (${downloads.length} time(s))`);
    await pod.startDeregister();
    await pod.startAgent();
    const logs = await pod.waitForLog("agent", LISTENING, 300_000);
    const podStart = await startedAt(pod.containerName("register"));
    const listening = logTime(logs, LISTENING);
    if (listening === undefined) throw new Error(`no timestamped 'Listening for Jobs' line:\n${await containerLogs(pod.containerName("agent"))}`);
    const sample: Sample = { totalMs: listening - podStart, registerMs: (await finishedAt(pod.containerName("register"))) - podStart };
    if (downloads[0] !== undefined) sample.transferMs = downloads[0].durationMs;
    return sample;
  } finally {
    await pod.signal("agent");
    await pod.waitForExit("agent", 30_000).catch(() => undefined);
    await pod.waitForExit("deregister", 30_000).catch(() => undefined);
    await pod.remove();
    livePods.delete(pod);
  }
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const mbit = (bytes: number, ms: number): number => (bytes * 8) / (ms * 1000);

async function measureLink(image: string, fake: FakeAdo, caFile: string, packageBytes: number, where: Where, nominalMbit: number | null): Promise<LinkResult> {
  const link = nominalMbit === null ? "loopback" : `${nominalMbit} Mbit/s`;
  const samples: Record<Source, Sample[]> = { baked: [], download: [] };
  for (let run = 1; run <= runs; run++) {
    for (const source of ["baked", "download"] as const) {
      const sample = await measure(image, fake, caFile, where, source);
      samples[source].push(sample);
      const transfer = sample.transferMs === undefined ? "" : `, package at ${mbit(packageBytes, sample.transferMs).toFixed(0)} Mbit/s`;
      log(`${link} run ${run}/${runs} ${source}: ${seconds(sample.totalMs)} to Listening for Jobs (register ${seconds(sample.registerMs)}${transfer})`);
    }
  }
  const bakedMs = median(samples.baked.map((s) => s.totalMs));
  const downloadMs = median(samples.download.map((s) => s.totalMs));
  const transferMs = median(samples.download.map((s) => s.transferMs ?? 0));
  return {
    link,
    nominalMbit,
    measuredMbit: mbit(packageBytes, transferMs),
    transferMs,
    bakedMs,
    downloadMs,
    bakedRegisterMs: median(samples.baked.map((s) => s.registerMs)),
    downloadRegisterMs: median(samples.download.map((s) => s.registerMs)),
    downloadOverBaked: downloadMs / bakedMs,
    samples,
  };
}

function table(results: readonly LinkResult[]): string {
  const header = ["link", "nominal", "measured", "package", "baked", "download", "download/baked"];
  const rows = results.map((r) => [
    r.link,
    r.nominalMbit === null ? "-" : `${r.nominalMbit} Mbit/s`,
    `${r.measuredMbit.toFixed(0)} Mbit/s`,
    seconds(r.transferMs),
    seconds(r.bakedMs),
    seconds(r.downloadMs),
    `${r.downloadOverBaked.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  return [header, ...rows].map((row) => `  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ")}`).join("\n");
}

async function main(): Promise<void> {
  await ensureDocker();
  log(`building the fake agent package padded with ${padMb} MiB`);
  const pkg = await agentPackage(padMb);
  let shaped: ShapedLink | undefined;
  let tlsDir: string | undefined;
  let fake: FakeAdo | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const pod of livePods) await pod.remove();
      await shaped?.close();
      await fake?.close();
      if (tlsDir !== undefined) rmSync(tlsDir, { recursive: true, force: true });
    })());
  // Interrupted: never leave the qdisc or the network behind.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    // The fake listens on the shaped bridge's gateway only: host-network pods reach that address
    // through `lo` (the loopback reference), bridge pods through the shaped bridge.
    shaped = await createShapedLink();
    const tls = makeTestTls([shaped.gateway]);
    tlsDir = tls.dir;
    fake = await startFake(pkg, { host: shaped.gateway, tls: { key: tls.key, cert: tls.cert } });
    log(`shaped link: docker network ${shaped.network}, device ${shaped.device}, fake at ${fake.baseUrl} (https port ${fake.httpsPort ?? "?"})`);
    log(`building the image with it baked in (${mb(pkg.bytes)} package)`);
    const image = await buildTestImage(fake, pkg);
    const imageBytes = Number(await dockerOk(["image", "inspect", "--format", "{{.Size}}", image]));
    const results: LinkResult[] = [];
    results.push(await measureLink(image, fake, tls.certFile, pkg.bytes, { network: "host", url: fake.url }, null));
    for (const rate of rates) {
      await shaped.shape(rate);
      try {
        results.push(await measureLink(image, fake, tls.certFile, pkg.bytes, { network: shaped.network, url: fake.url }, rate));
        log(`qdisc after ${rate} Mbit/s:\n${await shaped.describe()}`);
      } finally {
        await shaped.shape(undefined);
      }
    }
    const result = { image, imageBytes, packageBytes: pkg.bytes, runs, links: results };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    process.stdout.write(
      [
        `agent image start-up: pod start -> "Listening for Jobs", baked agent vs download at start`,
        `  (${runs} run(s) per mode and link, medians; fake agent package ${mb(pkg.bytes)}; image ${mb(imageBytes)}, ${image})`,
        `  measured = package bytes / time the fake took to serve them; package = that time`,
        table(results),
        "",
      ].join("\n"),
    );
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/image-startup: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
