/** A refusal the user can act on: the message names the value and the fix. Exit code 1. */
export class PinError extends Error {
  override readonly name = "PinError";
}

/** A command line the command cannot run with. Exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
