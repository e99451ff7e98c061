/** The two profiles of `demesne mcp`, one per server process (praxis invariant 8): observe, or act. */
export const PROFILES = ["read", "act"] as const;
export type Profile = (typeof PROFILES)[number];
