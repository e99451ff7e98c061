import { DIGEST_PINNED_IMAGE } from "../../components/model/compose";
import { serviceSteps } from "../lib/compose";
import type { DemesneStackPolicy } from "../lib/metadata";

export const imagesPinnedByDigest: DemesneStackPolicy = {
    name: "images-pinned-by-digest",
    description: "Every container image of every service is pinned by an @sha256 digest, so what was reviewed is what runs.",
    enforcementLevel: "mandatory",
    severity: "high",
    control: "supply chain",
    remediationSteps: "Resolve the tag to its digest (`docker buildx imagetools inspect <image:tag>`) and set `<image>@sha256:<digest>` in the service's config.",
    validateStack: (args, report) => {
        for (const s of serviceSteps(args)) {
            if (s.problem) {
                report(`${s.command.name}: ${s.problem}`, s.command.urn);
                continue;
            }
            for (const [name, svc] of Object.entries(s.project!.services)) {
                const image = typeof svc.image === "string" ? svc.image : "";
                if (!DIGEST_PINNED_IMAGE.test(image)) report(`${s.command.name}: ${s.project!.name}/${name} image ${image || "(none)"} is not pinned by @sha256 digest`, s.command.urn);
            }
        }
    },
};
