import { describe, expect, it } from "vitest";
import { PermanentError, poll } from "./poll.ts";

describe("poll", () => {
  it("should resolve with the first answer other than undefined, null or false", async () => {
    const answers: unknown[] = [undefined, null, false, 0];
    const value = await poll(() => answers.shift() as number | undefined, { what: "a number", timeoutMs: 5_000, intervalMs: 1 });
    expect(value).toBe(0);
    expect(answers).toEqual([]);
  });

  it("should retry a probe that throws, and name its last error when it times out", async () => {
    let calls = 0;
    const waiting = poll(
      () => {
        calls += 1;
        throw new Error(`busy ${calls}`);
      },
      { what: "the service", timeoutMs: 300, intervalMs: 10 },
    );
    await expect(waiting).rejects.toThrow(/^timed out after 300 ms waiting for the service \(last error: busy \d+\)$/);
    expect(calls).toBeGreaterThan(1);
  });

  it("should stop at once, long before its timeout, when a probe throws a PermanentError", async () => {
    const timeoutMs = 20_000;
    let calls = 0;
    const started = Date.now();
    const waiting = poll(
      async () => {
        calls += 1;
        if (calls < 3) return undefined;
        throw new PermanentError("the container has exited");
      },
      { what: "a log line", timeoutMs, intervalMs: 10 },
    );
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toBe("the container has exited");
    // The point of the test: it did not wait out its timeout (a bound this loose cannot flake).
    expect(Date.now() - started).toBeLessThan(timeoutMs / 2);
    expect(calls).toBe(3);
  });

  it("should probe again at once when woken, and see a state that lasts no longer than that", async () => {
    let state = "idle";
    let notify = (): void => undefined;
    const waiting = poll(() => (state === "busy" ? state : undefined), {
      what: "the busy state",
      timeoutMs: 5_000,
      intervalMs: 60_000,
      wake: (recheck) => {
        notify = recheck;
        return () => (notify = (): void => undefined);
      },
    });
    state = "busy";
    notify();
    state = "idle";
    await expect(waiting).resolves.toBe("busy");
  });

  it("should reject after its timeout even while a probe hangs", async () => {
    const waiting = poll(() => new Promise<undefined>(() => undefined), { what: "a hung probe", timeoutMs: 100 });
    await expect(waiting).rejects.toThrow("timed out after 100 ms waiting for a hung probe");
  });
});
