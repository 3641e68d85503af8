import { describe, expect, it } from "vitest";
import { PermanentError } from "./poll.ts";
import { run, runOk, runSync, start } from "./process.ts";

describe("run and runSync", () => {
  it.each([
    ["run", (script: string, input?: string) => run("bash", ["-c", script], input === undefined ? {} : { input })],
    ["runSync", async (script: string, input?: string) => runSync("bash", ["-c", script], input === undefined ? {} : { input })],
  ] as const)("%s should report the exit code, both streams and read stdin", async (_name, runScript) => {
    const r = await runScript('read -r line; printf "out:%s" "$line"; printf err >&2; exit 3', "in\n");
    expect(r).toEqual({ code: 3, signal: null, stdout: "out:in", stderr: "err", output: "out:inerr" });
  });

  it("should report a signal as 128 + its number, as a shell does", async () => {
    const r = await run("bash", ["-c", "kill -TERM $$"]);
    expect(r).toMatchObject({ code: 143, signal: "SIGTERM" });
  });

  it("should kill a command that runs past its timeout and reject", async () => {
    await expect(run("sleep", ["30"], { timeoutMs: 200 })).rejects.toThrow("sleep 30 timed out after 200 ms");
  });

  it("runOk should return trimmed stdout, and throw with the output on failure", async () => {
    expect(await runOk("printf", ["  ok \\n"])).toBe("ok");
    await expect(runOk("bash", ["-c", "echo why >&2; exit 4"])).rejects.toThrow("bash -c echo why >&2; exit 4 exited 4:\nwhy");
  });
});

describe("start", () => {
  it("should wait for output, then stop the process with SIGTERM", async () => {
    const p = start("bash", ["-c", "echo ready; exec sleep 30"]);
    expect((await p.waitForOutput(/^ready$/m))[0]).toBe("ready");
    expect(await p.stop()).toMatchObject({ signal: "SIGTERM", stdout: "ready\n" });
  });

  it("should stop waiting for output at once when the process has exited without it", async () => {
    const p = start("bash", ["-c", "echo something else"]);
    const error = await p.waitForOutput(/never/, 20_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toContain("the process exited before its output matched /never/");
  });
});
