import { ensureK8sTools } from '../../src/k8s-tools.ts';

ensureK8sTools((msg) => console.error(`ops tests: ${msg}`));
