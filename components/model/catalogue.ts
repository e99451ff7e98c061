// The catalogue of known layer scripts by sha256. Generated from components/host/scripts by
// `npm run catalogue` (a test fails when it is stale), so the policy pack can check a step's
// script without reading the scripts themselves. Dependency-free.
import catalogue from "./script-catalogue.json";

export const SCRIPT_CATALOGUE: Readonly<Record<string, string>> = catalogue;

/** The layer a script belongs to, or undefined for a script demesne does not know. */
export function layerOfScript(sha256: string): string | undefined {
    return Object.entries(SCRIPT_CATALOGUE).find(([, sum]) => sum === sha256)?.[0];
}
