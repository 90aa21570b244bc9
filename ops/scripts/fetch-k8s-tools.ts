#!/usr/bin/env bun
/**
 * Fetches helm and kubectl into <repo>/.tools/k8s-v32/ (see ../src/k8s-tools.ts for the source and why).
 *
 * Usage: bun ops/scripts/fetch-k8s-tools.ts [--print]   (prints the tools folder)
 */
import { ensureK8sTools, TOOLS_DIR } from '../src/k8s-tools.ts';

try {
  const tools = ensureK8sTools();
  if (process.argv.includes('--print')) console.log(TOOLS_DIR);
  else console.error(`helm: ${tools.helm}\nkubectl: ${tools.kubectl}`);
} catch (err) {
  console.error(`fetch-k8s-tools: ${(err as Error).message}`);
  process.exit(1);
}
