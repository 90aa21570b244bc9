/**
 * Environment variable names each program actually reads, extracted from its source, so the
 * deployment files (compose, chart, kustomize, ops tool) can be checked against them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/chart.ts';

const read = (p: string) => readFileSync(join(REPO_ROOT, p), 'utf8');
const all = (re: RegExp, text: string) => [...text.matchAll(re)].map((m) => m[1]!);

/** aggregator/src/config.ts: `env.NAME`, `env[...]` via int('NAME', ...). */
export function aggregatorEnvNames(): string[] {
  const src = read('aggregator/src/config.ts');
  return [...new Set([...all(/env\.([A-Z][A-Z0-9_]+)/g, src), ...all(/int\('([A-Z][A-Z0-9_]+)'/g, src)])];
}

/** publisher/src/args.ts: the `env: "PUBLISHER_..."` column of its option table. */
export function publisherEnvNames(): string[] {
  return all(/env: "([A-Z][A-Z0-9_]+)"/g, read('publisher/src/args.ts'));
}

/** k6/load.js: `env.NAME` and num("NAME", ...) in readSettings, plus __ENV.NAME. */
export function k6EnvNames(): string[] {
  const src = read('k6/load.js');
  return [...new Set([...all(/env\.([A-Z][A-Z0-9_]+)/g, src), ...all(/num\("([A-Z][A-Z0-9_]+)"/g, src), ...all(/__ENV\.([A-Z][A-Z0-9_]+)/g, src)])];
}
