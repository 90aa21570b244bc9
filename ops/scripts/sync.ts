#!/usr/bin/env bun
/**
 * Regenerates every file that is derived from another one, so each fact has one source:
 *
 *   k6/load.js                 -> charts/aggregator/files/load.js, k8s/jobs/load.js (copies:
 *                                 Helm and kustomize cannot read files outside their folder)
 *   charts/aggregator (render) -> k8s/*.yaml, k8s/jobs/*.yaml (kustomize manifests with the same
 *                                 names, labels, ports, env and policies as the chart)
 *   values.yaml `# --` comments -> charts/aggregator/README.md values table (helm-docs style)
 *
 *   bun ops/scripts/sync.ts           write the files
 *   bun ops/scripts/sync.ts --check   exit 1 listing stale files (the test suite does the same)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Document, isMap, parseAllDocuments, parseDocument, type Pair } from 'yaml';
import { CHART_DIR, helmTemplate, REPO_ROOT } from '../src/chart.ts';

/** Release name the kustomize manifests are rendered for; docs use the same (`helm install logbus`). */
export const K8S_RELEASE = 'logbus';
/** Development-only credentials for k8s/ (the chart generates a random password instead). */
const DEV_PASSWORD = 'logbus-dev-only-change-me';

const HEADER = (source: string) =>
  `# GENERATED from charts/aggregator (${source}) by \`npm run -w @logbus/ops sync\`.\n` +
  `# Do not edit: change the chart and re-run the sync; ops/test checks this file is current.\n`;

/** Which generated file each chart template's objects go to; templates not listed are skipped. */
const FILE_OF: Record<string, string> = {
  'serviceaccount.yaml': 'k8s/aggregator.yaml',
  'service.yaml': 'k8s/aggregator.yaml',
  'deployment.yaml': 'k8s/aggregator.yaml',
  'pdb.yaml': 'k8s/aggregator.yaml',
  'postgresql-service.yaml': 'k8s/postgresql.yaml',
  'postgresql-statefulset.yaml': 'k8s/postgresql.yaml',
  'networkpolicy.yaml': 'k8s/networkpolicy.yaml',
  'publisher-job.yaml': 'k8s/jobs/publisher-job.yaml',
  'k6-job.yaml': 'k8s/jobs/k6-job.yaml',
  // Replaced by generators in the kustomizations below: the Secret (random password and
  // `lookup` have no kustomize equivalent), the script ConfigMap (from k8s/jobs/load.js), and the
  // `helm test` hook Pod (a Helm-only concept).
  'postgresql-secret.yaml': '',
  'k6-configmap.yaml': '',
  'tests/test-ready.yaml': '',
};

/** Turns chart labels into kustomize-managed ones: no helm.sh/chart, managed-by kustomize. */
function relabel(doc: Document, path: (string | number)[]): void {
  const labels = doc.getIn([...path, 'labels']);
  if (!isMap(labels)) return;
  labels.delete('helm.sh/chart');
  if (labels.has('app.kubernetes.io/managed-by')) labels.set('app.kubernetes.io/managed-by', 'kustomize');
}

/** Renders the chart and splits it into the k8s/ files (text), comments preserved. */
function kustomizeManifests(): Record<string, string> {
  const text = helmTemplate({
    release: K8S_RELEASE,
    namespace: 'default',
    set: ['publisher.enabled=true', 'k6.enabled=true', 'tests.enabled=true'],
  });
  const files: Record<string, string[]> = {};
  for (const doc of parseAllDocuments(text)) {
    if (Array.isArray(doc) || doc.contents == null) continue;
    const comment = (doc.contents as { commentBefore?: string | null }).commentBefore ?? '';
    const match = /^ ?Source: aggregator\/templates\/(\S+)/.exec(comment);
    if (!match) throw new Error(`rendered document without a Source comment: ${comment}`);
    const template = match[1]!;
    if (!(template in FILE_OF)) throw new Error(`sync.ts: map templates/${template} in FILE_OF`);
    const target = FILE_OF[template];
    if (!target) continue;
    (doc.contents as { commentBefore?: string | null }).commentBefore = comment.split('\n').slice(1).join('\n') || null;
    doc.deleteIn(['metadata', 'namespace']);
    relabel(doc, ['metadata']);
    relabel(doc, ['spec', 'template', 'metadata']);
    // Our own `---` separators join the documents below.
    doc.directives!.docStart = null;
    (files[target] ??= []).push(doc.toString({ lineWidth: 0 }).trimEnd());
  }
  const out: Record<string, string> = {};
  for (const [file, docs] of Object.entries(files)) {
    const sources = Object.entries(FILE_OF)
      .filter(([, f]) => f === file)
      .map(([t]) => t)
      .join(', ');
    out[file] = `${HEADER(sources)}${docs.map((d) => `---\n${d}\n`).join('')}`;
  }
  return out;
}

const SELECTOR = (component: string) => ({
  'app.kubernetes.io/name': 'aggregator',
  'app.kubernetes.io/instance': K8S_RELEASE,
  'app.kubernetes.io/component': component,
});
const LABELS = (component: string) => ({
  ...SELECTOR(component),
  'app.kubernetes.io/version': chartAppVersion(),
  'app.kubernetes.io/managed-by': 'kustomize',
  'app.kubernetes.io/part-of': 'logbus',
});

function chartAppVersion(): string {
  return String((parseDocument(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')).toJS() as { appVersion: string }).appVersion);
}

function kustomizations(): Record<string, string> {
  const fullname = `${K8S_RELEASE}-aggregator`;
  const base = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: ['aggregator.yaml', 'postgresql.yaml', 'networkpolicy.yaml'],
    secretGenerator: [
      {
        name: `${fullname}-postgresql`,
        // Fixed name: the Deployment and StatefulSet reference it as the chart does. The hash
        // suffix would roll pods on a password change, which PostgreSQL's data dir cannot follow.
        options: { disableNameSuffixHash: true, labels: LABELS('database') },
        literals: [`password=${DEV_PASSWORD}`, `database-url=postgres://logbus:${DEV_PASSWORD}@${fullname}-postgresql:5432/logbus`],
      },
    ],
  };
  const jobs = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: ['publisher-job.yaml', 'k6-job.yaml'],
    configMapGenerator: [
      {
        name: `${fullname}-k6-script`,
        options: { disableNameSuffixHash: true, labels: LABELS('k6') },
        files: ['load.js'],
      },
    ],
  };
  const note = (what: string) => `# GENERATED by \`npm run -w @logbus/ops sync\` (ops/scripts/sync.ts); do not edit.\n# ${what}\n`;
  return {
    'k8s/kustomization.yaml':
      note('The logbus deployment for `kubectl apply -k k8s/`: the chart\'s objects for release "logbus".') +
      '# DEVELOPMENT credentials below: for any shared cluster replace the Secret (an overlay with your\n' +
      '# own secretGenerator, or sealed/external secrets) before applying.\n' +
      new Document(base).toString({ lineWidth: 0 }),
    'k8s/jobs/kustomization.yaml':
      note('The publisher and k6 Jobs: `kubectl apply -k k8s/jobs/` (delete the Jobs to run them again).') +
      new Document(jobs).toString({ lineWidth: 0 }),
  };
}

/** One row per documented key: dotted path, type, default, description. */
export interface ValueDoc {
  key: string;
  type: string;
  default: string;
  description: string;
}

/**
 * Reads `# --` comments from values.yaml. A key is documented by its own comment or by an
 * ancestor's (a documented map's children are part of its default). Returns the rows and the
 * keys that have no documentation at all.
 */
export function documentValues(text: string): { rows: ValueDoc[]; undocumented: string[] } {
  const doc = parseDocument(text);
  const rows: ValueDoc[] = [];
  const undocumented: string[] = [];
  const walk = (node: unknown, prefix: string, firstComment: string | null | undefined) => {
    if (!isMap(node)) return;
    node.items.forEach((item, i) => {
      const pair = item as Pair;
      const key = `${prefix}${String((pair.key as { value: unknown }).value)}`;
      // The yaml library attaches a map's first key comment to the map itself.
      const comment = (pair.key as { commentBefore?: string | null }).commentBefore ?? (i === 0 ? firstComment : null) ?? '';
      const m = /(?:^|\n) ?-- ([\s\S]*)$/.exec(comment);
      if (m) {
        const value = (pair.value as { toJSON?: () => unknown })?.toJSON?.() ?? null;
        const type = value === null ? 'string' : Array.isArray(value) ? 'list' : typeof value === 'object' ? 'object' : typeof value;
        rows.push({ key, type, default: JSON.stringify(value), description: m[1]!.replace(/\n ?/g, ' ').trim() });
      } else if (isMap(pair.value)) {
        walk(pair.value, `${key}.`, pair.value.commentBefore);
      } else {
        undocumented.push(key);
      }
    });
  };
  walk(doc.contents, '', (doc.contents as { commentBefore?: string | null } | null)?.commentBefore);
  return { rows, undocumented };
}

function chartReadme(): string {
  const values = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');
  const { rows, undocumented } = documentValues(values);
  if (undocumented.length) throw new Error(`values.yaml keys without a "# --" comment: ${undocumented.join(', ')}`);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const table = rows.map((r) => `| ${r.key} | ${r.type} | \`${esc(r.default)}\` | ${esc(r.description)} |`).join('\n');
  const intro = readFileSync(join(CHART_DIR, 'README.intro.md'), 'utf8').trimEnd();
  return `${intro}\n\n## Values\n\n<!-- GENERATED from values.yaml by \`npm run -w @logbus/ops sync\`; edit the comments there. -->\n\n| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n${table}\n`;
}

/** Every derived file with its expected content (repo-relative paths). */
export function generatedFiles(): Record<string, string> {
  const k6 = readFileSync(join(REPO_ROOT, 'k6/load.js'), 'utf8');
  return {
    'charts/aggregator/files/load.js': k6,
    'k8s/jobs/load.js': k6,
    'charts/aggregator/README.md': chartReadme(),
    ...kustomizeManifests(),
    ...kustomizations(),
  };
}

/** Files whose content on disk differs from what the sync would write. */
export function staleFiles(): string[] {
  return Object.entries(generatedFiles())
    .filter(([rel, content]) => {
      const abs = join(REPO_ROOT, rel);
      return !existsSync(abs) || readFileSync(abs, 'utf8') !== content;
    })
    .map(([rel]) => rel);
}

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    const stale = staleFiles();
    if (stale.length) {
      console.error(`stale generated files (run \`npm run -w @logbus/ops sync\`):\n  ${stale.join('\n  ')}`);
      process.exit(1);
    }
    console.error('generated files are current');
  } else {
    for (const [rel, content] of Object.entries(generatedFiles())) {
      const abs = join(REPO_ROOT, rel);
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, content);
      console.error(`wrote ${rel}`);
    }
  }
}
