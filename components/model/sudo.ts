// Sudoers rules that hand out unrestricted root (praxis invariant 9). The renderer, the policy pack and
// drift detection all refuse them; this is the one list.
export interface UnrestrictedSudo {
    pattern: RegExp;
    what: string;
}

export const UNRESTRICTED_SUDO: readonly UnrestrictedSudo[] = [
    { pattern: /NOPASSWD\s*:\s*ALL\b/, what: "NOPASSWD: ALL" },
    { pattern: /\bALL\s*=\s*\(\s*ALL(\s*:\s*ALL)?\s*\)\s*(NOPASSWD\s*:\s*)?ALL\b/, what: "ALL=(ALL) ALL" },
    { pattern: /^\s*[^#\s]+\s+ALL\s*=\s*ALL\b/m, what: "ALL=ALL" },
];

/** The unrestricted grants in a sudoers text (comments ignored). */
export function unrestrictedSudoIn(text: string): string[] {
    const body = text.split("\n").filter((l) => !l.trim().startsWith("#")).join("\n");
    return UNRESTRICTED_SUDO.filter((u) => u.pattern.test(body)).map((u) => u.what);
}
