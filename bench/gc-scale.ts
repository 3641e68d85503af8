// Garbage collector at scale (not a test): one run of azp-gc, in the real image, against the fake
// Azure DevOps holding a pool of --agents agents (default 1,000): a tenth are this release's
// orphans (no pod), a tenth this release's agents with a pod, the rest other releases' and
// non-chart agents. Reports the collector's wall time, its Azure DevOps and Kubernetes API calls,
// and the size of the agent list it reads. Written to .cache/bench/gc-scale.json.
//
// Usage: npx tsx bench/gc-scale.ts [--agents 1000]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { imageContract, tokenFilePath } from "../generator/contract/image.ts";
import { basic, registerAgent } from "../test/fake-ado/test-client.ts";
import { PAT, POOL, agentPackage, buildTestImage, ensureDocker, startFake } from "../test/image/support/environment.ts";
import { startFakeKube } from "../test/image/support/fake-kube.ts";
import { runOneShot } from "../test/image/support/pod.ts";
import { repoPath } from "../test/support/repo.ts";

const { values } = parseArgs({ options: { agents: { type: "string", default: "1000" } } });
const total = Number(values.agents);
if (!Number.isInteger(total) || total < 10) {
  process.stderr.write("usage: npx tsx bench/gc-scale.ts [--agents N>=10]\n");
  process.exit(2);
}
const log = (message: string): void => void process.stderr.write(`bench/gc-scale: ${message}\n`);
const { env: names, commands } = imageContract;

await ensureDocker();
const pkg = await agentPackage();
const fake = await startFake(pkg);
const kube = await startFakeKube();
try {
  const image = await buildTestImage(fake, pkg);
  const poolId = fake.state().pools.find((p) => p.name === POOL)?.id ?? -1;
  const release = `${kube.namespace}/bench-azp-agent`;
  const auth = basic("user", PAT);
  const orphans = Math.floor(total / 10);
  const withPods = Math.floor(total / 10);
  log(`registering ${total} agents (${orphans} orphans of ${release}, ${withPods} with a pod, the rest not this release's)`);
  for (let i = 0; i < total; i++) {
    const name = `bench-azp-agent-${i.toString(36).padStart(4, "0")}-x${(i % 997).toString(36)}`;
    const owner = i < orphans + withPods ? release : i % 2 === 0 ? `${kube.namespace}/other-azp-agent` : undefined;
    await registerAgent(fake, poolId, name, auth, undefined, owner === undefined ? {} : { [names.release.name]: owner });
    if (i < orphans) kube.absentPods.add(name);
  }
  fake.clearRequests();
  kube.requests.length = 0;

  const started = performance.now();
  const r = await runOneShot({
    image,
    command: commands.gc,
    token: PAT,
    env: {
      [names.url.name]: fake.url,
      [names.pool.name]: POOL,
      [names.tokenFile.name]: tokenFilePath,
      [names.release.name]: release,
      [names.podNamespace.name]: kube.namespace,
      [names.gcOfflineGrace.name]: "0",
    },
    dockerArgs: kube.dockerArgs(),
    timeoutMs: 1_800_000,
  });
  const wallMs = performance.now() - started;
  if (r.code !== 0) throw new Error(`azp-gc exited ${r.code}:\n${r.output.slice(-3000)}`);
  const calls = fake.requests();
  const list = calls.find((c) => c.method === "GET" && /\/agents\?include/.test(c.path));
  const remaining = fake.state().agents.filter((a) => a.poolId === poolId).length;
  const report = {
    agents: total,
    orphansRemoved: total - remaining,
    expectedRemoved: orphans,
    wallSeconds: wallMs / 1000,
    adoCalls: calls.length,
    adoCallsByKind: {
      list: calls.filter((c) => c.method === "GET" && c.path.includes("/agents?")).length,
      secondLook: calls.filter((c) => c.method === "GET" && /\/agents\/\d+\?/.test(c.path)).length,
      delete: calls.filter((c) => c.method === "DELETE").length,
      other: calls.filter((c) => !c.path.includes("/agents")).length,
    },
    kubeCalls: kube.requests.length,
    listDurationMs: list?.durationMs ?? null,
    logLines: r.stdout.split("\n").filter((l) => l.length > 0).length,
  };
  const dir = repoPath(".cache", "bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "gc-scale.json"), `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    `gc over ${total} agents: ${report.orphansRemoved}/${orphans} orphans removed in ${report.wallSeconds.toFixed(1)} s; ` +
      `${report.adoCalls} Azure DevOps calls (${report.adoCallsByKind.list} list, ${report.adoCallsByKind.secondLook} second looks, ${report.adoCallsByKind.delete} deletes, ${report.adoCallsByKind.other} connection/pool), ` +
      `${report.kubeCalls} Kubernetes API calls (one GET per candidate: ${orphans + withPods}); ${(report.wallSeconds * 1000 / Math.max(1, report.orphansRemoved)).toFixed(0)} ms per removed agent`,
  );
} finally {
  await kube.close();
  await fake.close();
}
