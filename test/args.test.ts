// The CLI's flag parsing (cli/args.ts): declared flags only, `--name value` and `--name=value`, booleans,
// positionals in any order; every refusal is a UsageError naming the flag.
import { describe, expect, it } from "vitest";
import { parseArgs, str, time } from "../cli/args";
import { UsageError } from "../cli/exit";

const parse = (argv: string[]) => parseArgs(argv, ["stack", "reason", "valid-at"], ["json", "replace"]);
const flags = (argv: string[]) => Object.fromEntries(parse(argv).flags);

function refusal(argv: string[]): string {
    try {
        parse(argv);
    } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
    }
    throw new Error(`${argv.join(" ")} was accepted`);
}

describe("parseArgs", () => {
    it("takes --name value, --name=value and booleans, with positionals in any order", () => {
        const p = parse(["plan", "--stack", "dev", "abc", "--reason=two words", "--json", "-"]);
        expect(p.positional).toEqual(["plan", "abc", "-"]);
        expect(Object.fromEntries(p.flags)).toEqual({ stack: "dev", reason: "two words", json: true });
        expect(str(p, "stack")).toBe("dev");
        expect(str(p, "json")).toBeUndefined();
        expect(str(p, "valid-at")).toBeUndefined();
    });

    it("keeps a value that looks like a flag or is empty, and the last of a repeated flag", () => {
        expect(flags(["--reason", "--not-a-flag"])).toEqual({ reason: "--not-a-flag" });
        expect(flags(["--reason", "-x"])).toEqual({ reason: "-x" });
        expect(flags(["--reason="])).toEqual({ reason: "" });
        expect(flags(["--reason=a=b"])).toEqual({ reason: "a=b" });
        expect(flags(["--stack", "a", "--stack=b"])).toEqual({ stack: "b" });
    });

    it("refuses an undeclared flag, a valued flag without its value, and a value given to a boolean", () => {
        expect(refusal(["--nope"])).toBe("unknown option --nope");
        expect(refusal(["--nope=1"])).toBe("unknown option --nope");
        expect(refusal(["--stack"])).toBe("--stack needs a value");
        expect(refusal(["--json=yes"])).toBe("--json takes no value");
        expect(refusal(["--", "--json"])).toBe("unknown option --");
    });

    it("refuses a single-dash option instead of taking it for a positional", () => {
        expect(refusal(["plan", "-x"])).toBe("unknown option -x");
        expect(refusal(["-json"])).toBe("unknown option -json");
    });

    it("reads times as ISO-8601 or now, naming the flag of a bad one", () => {
        expect(time(parse(["--valid-at", "2026-11-24T12:00:00Z"]), "valid-at")?.toISOString()).toBe("2026-11-24T12:00:00.000Z");
        expect(Math.abs(time(parse(["--valid-at=now"]), "valid-at")!.getTime() - Date.now())).toBeLessThan(5_000);
        expect(() => time(parse(["--valid-at", "soon"]), "valid-at")).toThrow(
            /^--valid-at: 'soon' is .*; use e\.g\. 2026-11-24T12:00:00Z, 2026-11-24 or now$/,
        );
    });
});
