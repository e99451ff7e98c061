/** The one small interface both backends serve: PGlite (embedded) and PostgreSQL through `pg`. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface Store extends Queryable {
  readonly backend: "pglite" | "postgres";
  /** Where the data lives, for people: a directory or a connection string without its password. */
  readonly location: string;
  /** Multi-statement SQL without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** One transaction; the callback's queries run inside it; a throw rolls everything back. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Raised for a broken store (failed verify, tampering): the CLI maps it to exit code 3. */
export class IntegrityError extends Error {
  override name = "IntegrityError";
}
