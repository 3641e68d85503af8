import { afterAll, afterEach } from "vitest";
import { reportFailure } from "./failure-report.ts";
import { cleanupNamespace, type Stack } from "./stack.ts";

/**
 * The hooks every e2e file shares: after a failed test, the diagnostics of `namespaces`
 * (failure-report.ts); at the end, the namespaces deleted and the fake closed. Call it before the
 * file's own afterAll: Vitest runs "after" hooks in reverse order, so the file's own (metrics,
 * its extra servers) run while the stack is still up.
 */
export function useStackCleanup(stack: () => Stack | undefined, namespaces: readonly string[]): void {
  afterEach(async (ctx) => {
    const current = stack();
    if (current !== undefined && ctx.task.result?.state === "fail") await reportFailure(current, ctx.task.name, [...namespaces]);
  });
  afterAll(async () => {
    const current = stack();
    if (current === undefined) return;
    await Promise.all(namespaces.map((ns) => cleanupNamespace(current, ns)));
    await current.fake.close();
  });
}
