// Pulumi mocks that record every registration and throw on any invoke the program makes, so a test (or
// `npm run steps`) sees exactly what the program declares (pulumi-awsx ecr/repository.test.ts style).
import * as pulumi from "@pulumi/pulumi";

export interface Registration {
    type: string;
    name: string;
    /** Inputs with secrets unwrapped to their values. */
    inputs: Record<string, unknown>;
    /** Top-level input names that arrived as secrets. */
    secretInputs: string[];
    /** The URN the engine would give it, and its parent's ("" for the stack's children at top). */
    urn?: string;
    parent?: string;
    /** A provider resource (false: a component or the stack). */
    custom: boolean;
    /**
     * A component's registered outputs (secrets unwrapped). The engine hands a policy these, never the
     * component's constructor inputs, which it does not receive.
     */
    outputs?: Record<string, unknown>;
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

function unwrap(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(unwrap);
    if (value && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        if (SECRET_SIG in obj) return unwrap(obj.value);
        return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrap(v)]));
    }
    return value;
}

function isSecret(value: unknown): boolean {
    return !!value && typeof value === "object" && SECRET_SIG in (value as object);
}

export async function recordRegistrations(opts: { dryRun: boolean; stack?: string }): Promise<Registration[]> {
    const registrations: Registration[] = [];
    await pulumi.runtime.setMocks({
        newResource(args) {
            registrations.push({
                type: args.type,
                name: args.name,
                inputs: unwrap(args.inputs) as Record<string, unknown>,
                secretInputs: Object.keys(args.inputs).filter((k) => isSecret(args.inputs[k])),
                custom: args.custom !== false,
            });
            const state = { ...args.inputs, ...(args.type === "command:remote:Command" ? { stdout: "changed=false\n", stderr: "" } : {}) };
            if (args.type === "tailscale:index/tailnetKey:TailnetKey") state.key = "tskey-auth-mock";
            return { id: `${args.name}-id`, state };
        },
        call(args) {
            throw new Error(`unmocked invoke: ${args.token}`);
        },
    }, "demesne", opts.stack ?? "control", opts.dryRun);
    // The mocks API does not tell newResource the parent; the monitor's request does.
    const monitor = pulumi.runtime.getMonitor() as unknown as {
        registerResource(req: { getParent(): string; getType(): string; getName(): string }, cb: unknown): Promise<void>;
        registerResourceOutputs(req: { getUrn(): string; getOutputs(): { toJavaScript(): Record<string, unknown> } | undefined }, cb: unknown): unknown;
        newUrn(parent: string, type: string, name: string): string;
    };
    // The mock's URNs keep only the parent's last type; the engine's keep the whole chain. Record both.
    const engineUrn = new Map<string, string>();
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = async (req, cb) => {
        const mockUrn = monitor.newUrn(req.getParent(), req.getType(), req.getName());
        const parent = req.getParent() ? engineUrn.get(req.getParent()) ?? "" : "";
        const chain = parent ? `${parent.split("::")[2]}$${req.getType()}` : req.getType();
        const urn = `urn:pulumi:${opts.stack ?? "control"}::demesne::${chain}::${req.getName()}`;
        engineUrn.set(mockUrn, urn);
        const done = original(req, cb);
        const reg = registrations.find((r) => r.type === req.getType() && r.name === req.getName() && r.urn === undefined);
        if (reg) Object.assign(reg, { urn, parent });
        return done;
    };
    const originalOutputs = monitor.registerResourceOutputs.bind(monitor);
    monitor.registerResourceOutputs = (req, cb) => {
        const reg = registrations.find((r) => r.urn === engineUrn.get(req.getUrn()));
        if (reg) reg.outputs = unwrap(req.getOutputs()?.toJavaScript() ?? {}) as Record<string, unknown>;
        return originalOutputs(req, cb);
    };
    return registrations;
}

/** Waits until the engine mock has seen every registration (the count stops moving). */
export async function settle(registrations: Registration[]): Promise<void> {
    let last = -1;
    let stable = 0;
    while (stable < 5) {
        await new Promise((r) => setTimeout(r, 10));
        if (registrations.length === last) stable++;
        else { stable = 0; last = registrations.length; }
    }
}

export function byType(registrations: Registration[], type: string): Registration[] {
    return registrations.filter((r) => r.type === type);
}
