import type { JobView } from "../../fake-ado/control.ts";
import type { RequestLogEntry } from "../../fake-ado/server.ts";

/**
 * Measurements from the fake's request log (never asserted as timings: the benchmark reports
 * them). "Replacement latency": each finished job is matched with the earliest first poll of an
 * agent that did not exist before the jobs were queued and is not matched yet — "job finished →
 * a new agent listening".
 */
export function replacementLatenciesMs(requests: readonly RequestLogEntry[], jobs: readonly JobView[], agentsBefore: ReadonlySet<string>): number[] {
  const firstPoll = new Map<string, number>();
  for (const r of requests) {
    if (!r.principal.startsWith("agent:") || r.method !== "GET" || !r.path.includes("/messages")) continue;
    const name = r.principal.slice("agent:".length);
    if (agentsBefore.has(name) || firstPoll.has(name)) continue;
    firstPoll.set(name, Date.parse(r.time));
  }
  const polls = [...firstPoll.values()].sort((a, b) => a - b);
  const samples: number[] = [];
  for (const finished of jobs.map((j) => Date.parse(j.finishTime ?? "")).sort((a, b) => a - b)) {
    const at = polls.findIndex((t) => t >= finished);
    if (at < 0) continue;
    samples.push(polls[at]! - finished);
    polls.splice(at, 1);
  }
  return samples;
}

/** The p-th percentile (0-100) of samples, nearest rank; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}
