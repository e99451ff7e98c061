/** Exit codes, the same for every `demesne` command (docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** Refused, or drift found. */
  refused: 1,
  /** Usage or input error: nothing was written. */
  usage: 2,
  /** Integrity failure: the store or the audit chain does not verify. */
  integrity: 3,
} as const;

export class UsageError extends Error {
  override name = "UsageError";
}
export class Refused extends Error {
  override name = "Refused";
}
