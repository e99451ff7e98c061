/** Bad input: the CLI exits 2 and names the line and field; nothing has been written. */
export class InputError extends Error {
  override name = "InputError";
  constructor(
    readonly line: number | undefined,
    readonly field: string | undefined,
    problem: string,
  ) {
    super(`${line !== undefined ? `line ${line}` : "input"}${field ? `: ${field}` : ""}: ${problem}`);
  }
}
