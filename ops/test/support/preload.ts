import { ensureK8sTools } from "../../scripts/fetch-k8s-tools.ts";

ensureK8sTools((msg) => console.error(`ops tests: ${msg}`));
