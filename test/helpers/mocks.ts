// The mock engine lives with `npm run steps`, which runs the program and the pack under it too.
export { byType, recordRegistrations, settle, type Registration } from "../../scripts/lib/mock-engine";
