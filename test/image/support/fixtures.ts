import { onTestFinished } from "vitest";
import { imageContract, tokenFilePath } from "../../../generator/contract/image.ts";
import type { FakeAdo, RequestLogEntry } from "../../fake-ado/server.ts";
import { HOST_PLATFORM, POOL, PAT, type ImageTestEnv } from "./environment.ts";
import { FakePod, type PodOptions } from "./pod.ts";

/**
 * A pod for the current test: removed when the test finishes; on failure its containers' logs
 * and the fake's request log are printed first.
 */
export function newPod(env: ImageTestEnv, options: Partial<PodOptions> = {}): FakePod {
  const platform = env.platform === HOST_PLATFORM ? {} : { platform: env.platform };
  const pod = new FakePod({ image: env.image, url: env.fake.url, pool: POOL, token: PAT, caFile: env.caFile, ...platform, ...options });
  onTestFinished(async (context) => {
    if (context.task.result?.state === "fail") {
      console.error(`===== pod ${pod.name} =====\n${await pod.allLogs()}\n===== fake request log =====\n${requestLines(env.fake).join("\n")}`);
    }
    await pod.remove();
  });
  return pod;
}

/**
 * The variables every one-shot command of a release reads to reach Azure DevOps (azp-smoke,
 * azp-gc, azp-placeholder), as the chart sets them, pointed at the fake; two connection attempts.
 */
export function releaseCommandEnv(fake: FakeAdo, release: string): Record<string, string> {
  const { env } = imageContract;
  return { [env.url.name]: fake.url, [env.pool.name]: POOL, [env.tokenFile.name]: tokenFilePath, [env.release.name]: release, [env.connectAttempts.name]: "2" };
}

/** The request log in arrival order. */
export function requestsInOrder(fake: FakeAdo): RequestLogEntry[] {
  return fake.requests().sort((a, b) => a.seq - b.seq);
}

/** One line per request, for failure reports. */
export function requestLines(fake: FakeAdo): string[] {
  return requestsInOrder(fake).map((r) => `${r.seq} ${r.method} ${r.path} -> ${r.status} (${r.principal}; ${r.userAgent ?? "no UA"})`);
}

/** Requests sent by the image's own commands (not by the agent they run). */
export function imageRequests(fake: FakeAdo): RequestLogEntry[] {
  return requestsInOrder(fake).filter((r) => (r.userAgent ?? "").startsWith("azp-agent-image/"));
}

/** `METHOD path-without-query`, with numeric ids replaced by `{id}`. */
export function shape(entry: RequestLogEntry): string {
  const path = entry.path.split("?")[0] ?? "";
  return `${entry.method} ${path.replace(/\/\d+(?=\/|$)/g, "/{id}")}`;
}

/** DELETEs of agents in a pool, with their statuses. */
export function agentDeletes(fake: FakeAdo): RequestLogEntry[] {
  return requestsInOrder(fake).filter((r) => r.method === "DELETE" && /\/_apis\/distributedtask\/pools\/\d+\/agents\/\d+/.test(r.path));
}

export const agentsInPool = (fake: FakeAdo, poolId: number): string[] =>
  fake
    .state()
    .agents.filter((a) => a.poolId === poolId)
    .map((a) => a.name);
