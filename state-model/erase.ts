import type { Store } from "./db/store";
import { dataSubjectOf, PersonalData } from "./facts/personal";

/**
 * UK GDPR erasure by crypto-shredding: the data subject's key is destroyed, so every sealed value of theirs
 * becomes unreadable while history keeps its shape. Returns whether a key existed.
 */
export async function erase(store: Store, subject: string, actor: string, reason: string): Promise<{ subjectRef: string; erased: boolean }> {
  if (!actor.trim() || !reason.trim()) throw new Error("erasure needs --actor and --reason");
  return store.transaction(async (tx) => {
    const pd = new PersonalData(tx);
    const ref = await pd.ref(subject);
    // The reason is kept for the record; a data subject named in it is kept only as their reference.
    let clean = reason;
    for (let s = dataSubjectOf(clean); s; s = dataSubjectOf(clean)) clean = clean.split(s).join(`pd:${await pd.ref(s)}`);
    const r = await tx.query<{ found: boolean }>("SELECT demesne_erase($1, $2, $3) AS found", [ref, actor, clean]);
    return { subjectRef: ref, erased: r.rows[0]!.found };
  });
}
