// The store for MCP calls: opened when a call needs it and closed when the last call in this process is done.
// A server holding the embedded store between calls would lock `demesne ingest`, `observe` and every other
// process out of it (state-model/db/lock.ts) for as long as an agent stays connected; calls running at the
// same time in one process (HTTP) share one open store instead of queueing on the lock file.
import { openFleetStore } from "../../state-model/db/open";
import type { Store } from "../../state-model/db/store";
import { note } from "../output";

let shared: { store: Promise<Store>; users: number } | undefined;

export async function withMcpStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  if (!shared) {
    shared = { store: openFleetStore({ onWait: (pid) => note(`waiting for another demesne process (pid ${pid}) to finish with the store`) }), users: 0 };
  }
  const mine = shared;
  mine.users += 1;
  try {
    return await fn(await mine.store);
  } finally {
    mine.users -= 1;
    if (mine.users === 0) {
      if (shared === mine) shared = undefined;
      await mine.store.then((s) => s.close(), () => undefined);
    }
  }
}
