/**
 * The Node.js minimum we state (package.json "engines") and the dependency tree agree: every
 * package in package-lock.json whose "engines.node" is set accepts that minimum, so `npm ci` on
 * the minimum prints no EBADENGINE warning. Static: it reads the lockfile, installs nothing.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/chart.ts';

interface LockPackage {
  version?: string;
  engines?: { node?: string } | string[];
}

const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } };
const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };

/** The lowest version a ">=X[.Y[.Z]]" range admits; any other form is a finding of its own. */
function statedMinimum(range: string | undefined): string {
  const match = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range?.trim() ?? '');
  if (!match) throw new Error(`package.json engines.node should read ">=X.Y.Z" (got ${JSON.stringify(range)})`);
  return `${match[1]}.${match[2] ?? 0}.${match[3] ?? 0}`;
}

/** Lockfile entries with a node engine range (older lockfiles may hold an array: skipped, none here). */
function nodeRanges(): { path: string; range: string }[] {
  return Object.entries(lock.packages)
    .filter(([path]) => path !== '')
    .flatMap(([path, pkg]) => {
      const node = !Array.isArray(pkg.engines) ? pkg.engines?.node : undefined;
      return node ? [{ path: `${path}@${pkg.version}`, range: node }] : [];
    });
}

describe('Node.js engines', () => {
  const minimum = statedMinimum(manifest.engines?.node);

  test('the lockfile records the same root engines as package.json', () => {
    expect((lock.packages[''] as LockPackage).engines).toEqual(manifest.engines as never);
  });

  test('every locked package accepts the stated minimum', () => {
    const ranges = nodeRanges();
    // Positive control: the check has material (dozens of packages declare engines) and the
    // same predicate rejects a range above the minimum.
    expect(ranges.length).toBeGreaterThan(20);
    expect(Bun.semver.satisfies(minimum, '>=22.19.0')).toBe(false);
    const refusing = ranges.filter(({ range }) => !Bun.semver.satisfies(minimum, range));
    expect(refusing.map(({ path, range }) => `${path} requires node ${range}`)).toEqual([]);
  });

  test("this machine's Node.js meets the stated minimum", () => {
    // process.versions.node under Bun is Bun's compatibility figure: ask the real node.
    const node = Bun.spawnSync(['node', '--version'], { stdout: 'pipe' });
    const version = node.stdout.toString().trim().replace(/^v/, '');
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(Bun.semver.satisfies(version, `>=${minimum}`)).toBe(true);
  });
});
