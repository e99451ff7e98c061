import type { Store } from "./db/store";
import { PersonalData } from "./facts/personal";

/**
 * UK GDPR erasure by crypto-shredding: the data subject's key is destroyed, so every sealed value of theirs
 * becomes unreadable while history keeps its shape. Returns whether a key existed.
 */
export async function erase(store: Store, subject: string, actor: string, reason: string): Promise<{ subjectRef: string; erased: boolean }> {
  if (!actor.trim() || !reason.trim()) throw new Error("erasure needs --actor and --reason");
  return store.transaction(async (tx) => {
    const ref = await new PersonalData(tx).ref(subject);
    const r = await tx.query<{ found: boolean }>("SELECT demesne_erase($1, $2, $3) AS found", [ref, actor, reason]);
    return { subjectRef: ref, erased: r.rows[0]!.found };
  });
}
