import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Stack } from "./stack.ts";

/**
 * What a failed e2e test leaves behind. CI shows only the end of the output, so the full
 * diagnostics go to stdout and to a file, and a short digest (container states, the last log
 * lines of pods that are not running cleanly) goes to .cache/test-results/digest/, which
 * tools/test-all.sh prints right before its summary line.
 */
export async function reportFailure(stack: Stack, testName: string, namespaces: string[]): Promise<void> {
  const requestLog = stack.fake
    .requests()
    .slice(-80)
    .map((r) => `${r.time} ${r.principal} ${r.method} ${r.path} -> ${r.status}`)
    .join("\n");
  const full = [`----- fake Azure DevOps request log (last 80)\n${requestLog}`];
  for (const ns of namespaces) full.push(await stack.kube.diagnostics(ns));
  const text = full.join("\n");
  console.log(text);

  const digest: string[] = [`e2e failure: ${testName}`];
  for (const ns of namespaces) {
    const states = await stack.kube.containerStates(ns);
    digest.push(`pods in ${ns}:`, states === "" ? "  (none)" : states.replace(/^/gm, "  "));
    for (const line of states.split("\n")) {
      const pod = line.split(" ")[0];
      if (pod === undefined || pod === "" || !/deleting since|Pending|Failed|restarts=|waiting/.test(line)) continue;
      const logs = await stack.kube.kubectl(["-n", ns, "logs", pod, "--all-containers", "--prefix", "--tail=6"]);
      digest.push(`  last log lines of ${pod}:`, (logs.stdout + logs.stderr).trimEnd().replace(/^/gm, "    "));
    }
  }
  const lastRequests = requestLog.split("\n").slice(-5);
  digest.push("last fake Azure DevOps requests:", ...lastRequests.map((l) => `  ${l}`));

  const dir = join(stack.env.repo, ".cache", "test-results");
  const slug = testName.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 80);
  mkdirSync(join(dir, "digest"), { recursive: true });
  mkdirSync(join(dir, "diagnostics"), { recursive: true });
  writeFileSync(join(dir, "digest", `${slug}.txt`), `${digest.join("\n")}\n`);
  writeFileSync(join(dir, "diagnostics", `${slug}.txt`), `${text}\n`);
}
