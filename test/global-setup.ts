import type { TestProject } from "vitest/node";
import { startPostgres } from "./helpers/postgres-server";

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgError: string;
  }
}

/** One PostgreSQL server for the whole run; each test that needs it makes its own database. */
export default async function setup(project: TestProject) {
  try {
    const pg = await startPostgres();
    project.provide("pgAdminUrl", pg.adminUrl);
    project.provide("pgError", "");
    return () => pg.stop();
  } catch (e) {
    project.provide("pgAdminUrl", "");
    project.provide("pgError", (e as Error).message);
    return undefined;
  }
}
