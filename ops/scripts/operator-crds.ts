#!/usr/bin/env bun
/**
 * Writes the operator's CRDs (built in ops/src/operator/crds.ts, from the same defaults table the
 * reconcilers use) into charts/logbus-operator/crds/, one file per CRD.
 *
 *   bun ops/scripts/operator-crds.ts           write them
 *   bun ops/scripts/operator-crds.ts --check   exit 1 listing stale files (the tests do the same)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REPO_ROOT } from '../src/chart.ts';
import { customResourceDefinitions } from '../src/operator/crds.ts';

export const CRD_DIR = join(REPO_ROOT, 'charts/logbus-operator/crds');

/** file name -> content. */
export function crdFiles(): Record<string, string> {
  const header = '# GENERATED from ops/src/operator/crds.ts by `bun ops/scripts/operator-crds.ts`: do not edit.\n';
  return Object.fromEntries(customResourceDefinitions().map((crd) => [`${crd.metadata.name}.yaml`, header + stringify(crd, { lineWidth: 0 })]));
}

/** Files whose content differs from the generated one. */
export function staleCrdFiles(): string[] {
  return Object.entries(crdFiles())
    .filter(([file, text]) => {
      try {
        return readFileSync(join(CRD_DIR, file), 'utf8') !== text;
      } catch {
        return true;
      }
    })
    .map(([file]) => join('charts/logbus-operator/crds', file));
}

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    const stale = staleCrdFiles();
    if (stale.length) {
      console.error(`stale (run bun ops/scripts/operator-crds.ts):\n  ${stale.join('\n  ')}`);
      process.exit(1);
    }
  } else for (const [file, text] of Object.entries(crdFiles())) writeFileSync(join(CRD_DIR, file), text);
}
