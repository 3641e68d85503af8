/**
 * The one way tests wait for a condition (image, e2e, the fake Azure DevOps, the fake agent's
 * harness, bench): no fixed sleeps where a condition can be checked.
 */

/**
 * Thrown by a probe when what it waits for can no longer happen (the container already exited,
 * the object is gone, the credential was refused): poll() stops at once with this error instead
 * of retrying until its timeout.
 */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
}

/** What a probe answers: anything but `undefined`, `null` or `false` ends the wait with that value. */
export type ProbeResult<T> = T | undefined | null | false;
export type Probe<T> = () => ProbeResult<T> | Promise<ProbeResult<T>>;

export interface PollOptions {
  /** What is waited for, as the timeout error names it ("the job to finish"); a function is asked at the timeout. */
  readonly what: string | (() => string);
  readonly timeoutMs: number;
  /**
   * Pause between two probes (after one has answered).
   * @default 200
   */
  readonly intervalMs?: number;
  /**
   * Subscribes `recheck`, which probes again at once (e.g. on every state change of the fake, so
   * that a state lasting less than an interval is still seen); returns the unsubscribe function.
   * A synchronous probe runs inside `recheck`.
   * @default none: the interval alone
   */
  readonly wake?: (recheck: () => void) => () => void;
}

const done = <T>(value: ProbeResult<T>): value is T => value !== undefined && value !== null && value !== false;

const isPromise = <T>(value: unknown): value is Promise<T> => typeof (value as { then?: unknown } | null)?.then === "function";

/**
 * Resolves with the probe's first answer other than `undefined`, `null` or `false`. A probe that
 * throws is tried again (the last error is named in the timeout error), unless it throws a
 * PermanentError: then the wait rejects at once with it. Rejects after `timeoutMs` even when a
 * probe hangs.
 */
export function poll<T>(probe: Probe<T>, options: PollOptions): Promise<T> {
  const intervalMs = options.intervalMs ?? 200;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let probing = false;
    let lastError: unknown;
    let next: NodeJS.Timeout | undefined;
    let unsubscribe = (): void => undefined;

    const finish = (): void => {
      settled = true;
      clearTimeout(next);
      clearTimeout(deadline);
      unsubscribe();
    };
    const answered = (value: ProbeResult<T>): void => {
      probing = false;
      if (settled) return;
      if (done(value)) {
        finish();
        resolve(value);
        return;
      }
      schedule();
    };
    const failed = (error: unknown): void => {
      probing = false;
      if (settled) return;
      if (error instanceof PermanentError) {
        finish();
        reject(error);
        return;
      }
      lastError = error;
      schedule();
    };
    const schedule = (): void => {
      clearTimeout(next);
      next = setTimeout(check, intervalMs);
    };
    function check(): void {
      if (settled || probing) return;
      probing = true;
      let result: ProbeResult<T> | Promise<ProbeResult<T>>;
      try {
        result = probe();
      } catch (error) {
        failed(error);
        return;
      }
      if (isPromise<ProbeResult<T>>(result)) result.then(answered, failed);
      else answered(result);
    }

    const deadline = setTimeout(() => {
      if (settled) return;
      finish();
      const cause = lastError === undefined ? "" : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      const what = typeof options.what === "string" ? options.what : options.what();
      reject(new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${cause}`));
    }, options.timeoutMs);
    if (options.wake !== undefined) unsubscribe = options.wake(check);
    check();
  });
}
