/**
 * What the docs and the code comments cite exists. A citation here is:
 *
 * - a test file name (`*.test.ts`, `*_test.ts`), in docs and comments: some file of the repo ends
 *   with that path;
 * - in backticks, in docs and comments: a file path (`db/layout.ts`, a name with an extension we
 *   keep) or a folder (`workers/`) that some path ends with; a code identifier (`announceWork`,
 *   `readPage()`, `ReadBudget.run`: camelCase, or anything followed by `()`) or a constant
 *   (`MAX_PAGE_BYTES`) that the code holds as a word;
 * - a quoted section after a doc name (README "Threat model", docs/ARCHITECTURE.md, "Parked
 *   events"): that doc has a heading holding the quote;
 * - a quoted test name after a test file (`auth.test.ts` "deny by default"): the file holds that
 *   text (each piece between "…");
 * - a Markdown link in docs/*.md and README.md: the file exists, and so does its #anchor.
 *
 * Anything else (prose, shell lines in backticks, SQL) is not checked. A citation that is meant
 * to name something absent goes in EXCEPTIONS with its reason.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { basename, dirname, join, normalize } from 'node:path';

const ROOT = join(import.meta.dir, '../..');

/** `file` (repo path) cites `cited`: not a mistake, for the reason given. */
const EXCEPTIONS: { file: string; cited: string; reason: string }[] = [
  { file: 'docs/DEPLOY.md', cited: 'build-standins.sh', reason: "outside the repository: the offline-images kit's stand-in image builder" },
  { file: 'docs/ARCHITECTURE.md', cited: 'connection.js', reason: "postgres.js's own source file, in node_modules" },
  {
    file: 'docs/OPERATIONS.md',
    cited: '/openapi/reference.js',
    reason: 'a route (served from dashboard/api-reference.js), not a path in the repository',
  },
  {
    file: 'docs/QUERY.md',
    cited: '/etc/grafana/provisioning/datasources/logbus.yaml',
    reason: "a path in Grafana's container, where the snippet goes",
  },
  { file: 'docs/QUERY.md', cited: 'envFromSecret', reason: "a value of Grafana's own Helm chart" },
  { file: 'docs/CONSUMERS.md', cited: 'consumer-state.json', reason: 'the state file the example consumer writes where it runs' },
  { file: 'docs/OPERATOR.md', cited: 'Readable.fromWeb', reason: "Node's stream API, which client-node's watch uses" },
  { file: 'docs/BENCHMARKS.md', cited: 'pg_stat_clear_snapshot', reason: 'a PostgreSQL function the measurement called, not one logbus uses' },
];
const SELF = 'ops/test/references.test.ts';

const FILES = Bun.spawnSync(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT })
  .stdout.toString()
  .split('\n')
  .filter((f) => f && !f.startsWith('node_modules/') && !f.includes('/node_modules/'));
const FILE_SET = new Set(FILES);
const read = (file: string) => {
  try {
    return readFileSync(join(ROOT, file), 'utf8');
  } catch {
    return ''; // listed but deleted in the working tree
  }
};

const DOCS = FILES.filter((f) => f === 'README.md' || /^docs\/[^/]+\.md$/.test(f));
const CODE_EXT = /\.(ts|js|mjs|jsonc)$/;
const CODE = FILES.filter((f) => CODE_EXT.test(f) && !f.endsWith('.min.js'));
/** Words of everything that is not prose: where identifiers and constants must be found. */
const WORDS = new Set<string>();
for (const f of FILES) {
  // Not prose, and not this file (its made-up citations must stay unknown).
  if (f.endsWith('.md') || f === SELF || /\.(png|jpg|ico|gz|tgz|lock)$/.test(f)) continue;
  for (const m of read(f).matchAll(/[A-Za-z_$][\w$]*/g)) WORDS.add(m[0]);
}

/** The comment text of a source file (// lines and trailing comments, block comments). */
function comments(text: string): string {
  const out: string[] = [];
  for (const m of text.matchAll(/\/\*[\s\S]*?\*\/|(?<![:"'`\w])\/\/[^\n]*/g)) out.push(m[0]);
  return out.join('\n');
}

/** Markdown without fenced code blocks (commands, SQL and logs are not citations). */
const prose = (markdown: string) => markdown.replace(/^```[\s\S]*?^```/gm, '');

const endsWithPath = (cited: string) => {
  const clean = normalize(cited).replace(/^(\.\.?\/)+/, '');
  return FILE_SET.has(clean) || FILES.some((f) => f.endsWith(`/${clean}`));
};
const hasFolder = (cited: string) => {
  const clean = cited.replace(/^(\.\.?\/)+/, '');
  return FILES.some((f) => f.startsWith(clean) || f.includes(`/${clean}`));
};

/** GitHub's heading anchors. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
const headings = (file: string) => [...prose(read(file)).matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => m[1]!.replace(/`/g, '').trim());
const squash = (text: string) => text.toLowerCase().replace(/[`*_]/g, '').replace(/\s+/g, ' ').trim();

const PATH_LIKE = /^[\w@./-]*[\w-]\.(ts|js|mjs|json|jsonc|ya?ml|sql|md|sh|html|css|tpl)$/;
const IDENTIFIER = /^(?:[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*|[A-Za-z_$][\w$]*\(\))$|^[A-Z][A-Za-z0-9]+\.[a-z][A-Za-z0-9]*(\(\))?$/;
const CONSTANT = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;

interface Problem {
  file: string;
  cited: string;
  why: string;
}

function checkBackticked(file: string, text: string, problems: Problem[]): void {
  for (const m of text.matchAll(/`([^`\n]+)`/g)) {
    const cited = m[1]!.trim();
    if (PATH_LIKE.test(cited) && !cited.includes('*')) {
      if (!endsWithPath(cited)) problems.push({ file, cited, why: 'no such file' });
    } else if (/^[\w-]+(\/[\w-]+)*\/$/.test(cited)) {
      if (!hasFolder(cited)) problems.push({ file, cited, why: 'no such folder' });
    } else if (IDENTIFIER.test(cited)) {
      for (const word of cited.replace(/\(\)$/, '').split('.')) if (!WORDS.has(word)) problems.push({ file, cited, why: `no code holds ${word}` });
    } else if (CONSTANT.test(cited)) {
      if (!WORDS.has(cited)) problems.push({ file, cited, why: 'no code holds this constant' });
    }
  }
}

function checkTestFiles(file: string, text: string, problems: Problem[]): void {
  for (const m of text.matchAll(/([\w./-]*[\w-]+(?:\.test\.ts|_test\.ts))(?:`)?(?:\s*\(?["“]([^"”\n]+)["”])?/g)) {
    const cited = m[1]!;
    if (!endsWithPath(cited)) {
      problems.push({ file, cited, why: 'no such test file' });
      continue;
    }
    const name = m[2];
    if (name === undefined) continue;
    const target = FILES.find((f) => f === cited || f.endsWith(`/${cited.replace(/^(\.\.?\/)+/, '')}`))!;
    const body = read(target);
    for (const piece of name.split(/…|\.\.\./).map((p) => p.trim())) {
      if (piece && !body.includes(piece)) problems.push({ file, cited: `${cited} "${name}"`, why: `the file holds no "${piece}"` });
    }
  }
}

function checkSections(file: string, text: string, problems: Problem[]): void {
  for (const m of text.matchAll(/\b((?:[\w./-]*\/)?(?:README|[A-Z][A-Z_]+\.md))(?:'s)?[\s,:(]*(?:section\s+)?["“]([^"”\n]{3,80})["”]/g)) {
    const doc = m[1]!.endsWith('.md') ? m[1]! : `${m[1]}.md`;
    const candidates = doc.includes('/')
      ? FILES.filter((f) => f === doc || f.endsWith(`/${doc}`))
      : FILES.filter((f) => basename(f) === basename(doc));
    const wanted = squash(m[2]!);
    if (!candidates.some((c) => headings(c).some((h) => squash(h).includes(wanted))))
      problems.push({ file, cited: `${m[1]} "${m[2]}"`, why: `no heading holds it in ${candidates.join(', ') || 'no such doc'}` });
  }
}

function checkLinks(file: string, text: string, problems: Problem[]): void {
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!;
    if (/^[a-z]+:/.test(target)) continue; // http:, https:, mailto:
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const resolved = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
    if (path !== '' && !FILE_SET.has(resolved) && !hasFolder(`${resolved.replace(/\/$/, '')}/`)) {
      problems.push({ file, cited: target, why: 'link to no such file' });
      continue;
    }
    if (anchor && resolved.endsWith('.md') && !headings(resolved).some((h) => slug(h) === anchor))
      problems.push({ file, cited: target, why: `no heading of ${resolved} has the anchor #${anchor}` });
  }
}

/** "issue 21", "(#21)": numbers of our own tracker (an upstream issue carries its repository: owner/name#N). */
const issueMentions = (text: string) => [...text.replace(/`[^`\n]*`/g, '').matchAll(/\bissues?\s+#?\d+|(?<![\w/.-])#\d+\b/gi)].map((m) => m[0]);

function problemsOf(file: string): Problem[] {
  const problems: Problem[] = [];
  const isDoc = file.endsWith('.md');
  const text = isDoc ? prose(read(file)) : comments(read(file));
  checkBackticked(file, text, problems);
  checkTestFiles(file, text, problems);
  checkSections(file, text, problems);
  if (isDoc) checkLinks(file, text, problems);
  return problems.filter((p) => !EXCEPTIONS.some((e) => e.file === p.file && p.cited.includes(e.cited)));
}

describe('references', () => {
  test('the scan sees the files it checks (positive control)', () => {
    expect(DOCS).toContain('docs/ARCHITECTURE.md');
    expect(DOCS).toContain('README.md');
    expect(CODE).toContain('aggregator/src/auth/access.ts');
    expect(WORDS.has('readPage')).toBe(true);
    // Each kind of citation is found and resolved: a made-up one of each kind fails.
    const probe: Problem[] = [];
    const fake = 'see `db/nowhere.ts`, `noSuchFunction()`, `NO_SUCH_SETTING`, `nowhere/`, gone.test.ts, README "No such section"';
    checkBackticked('probe', fake, probe);
    checkTestFiles('probe', fake, probe);
    checkSections('probe', fake, probe);
    checkLinks('probe.md', '[x](docs/ARCHITECTURE.md#no-such-anchor) [y](no/such/file.md)', probe);
    expect(probe.map((p) => p.cited)).toEqual([
      'db/nowhere.ts',
      'noSuchFunction()',
      'NO_SUCH_SETTING',
      'nowhere/',
      'gone.test.ts',
      'README "No such section"',
      'docs/ARCHITECTURE.md#no-such-anchor',
      'no/such/file.md',
    ]);
    const good: Problem[] = [];
    const real = 'see `db/layout.ts`, `readPage()`, `MAX_PAGE_BYTES`, `workers/`, guard.test.ts "deny by default", README "Quick start"';
    checkBackticked('probe', real, good);
    checkTestFiles('probe', real, good);
    checkSections('probe', real, good);
    checkLinks('README.md', '[x](docs/ARCHITECTURE.md#source-tree)', good);
    expect(good).toEqual([]);
  });

  test('docs/*.md and README.md name no issue of ours: a reader has no tracker, so they say the thing', () => {
    // Positive control: each way of naming one is caught, an upstream issue or an anchor is not.
    expect(issueMentions('as issue 21 asked; Issue 28. (#25) issues 3 and 4')).toEqual(['issue 21', 'Issue 28', '#25', 'issues 3']);
    expect(issueMentions('oven-sh/bun#32887, [DEPLOY.md §7](DEPLOY.md#7-the-end), `#1`, the issue number')).toEqual([]);
    expect(DOCS.flatMap((f) => issueMentions(read(f)).map((m) => `${f}: ${m}`))).toEqual([]);
  });

  test('docs/*.md and README.md cite only what exists', () => {
    expect(DOCS.flatMap(problemsOf)).toEqual([]);
  });

  test('code comments cite only what exists', () => {
    expect(CODE.filter((f) => f !== SELF).flatMap(problemsOf)).toEqual([]);
  });
});
