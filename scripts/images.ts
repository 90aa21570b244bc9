/**
 * Builds the aggregator and publisher images, tags them for a registry and pushes them: what a
 * cluster needs before `helm install`, since the chart's default image names exist in no registry.
 * No make, no shell: Bun and a Docker engine with buildx (docs/IMAGES.md).
 *
 *   npm run images -- --registry ghcr.io/acme --tag 0.1.0                 # build and push, this machine's platform
 *   npm run images -- --registry ghcr.io/acme --tag 0.1.0 --platform linux/amd64,linux/arm64
 *   npm run images -- --registry ghcr.io/acme --tag 0.1.0 --dry-run       # print the commands only
 *   npm run images -- --tag dev --load                                    # local images for kind, no push
 *
 * .github/workflows/images.yml does the same on a tag, multi-arch, with the same names.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const REPO = join(import.meta.dir, '..');

/** Image name -> Dockerfile (built from the repository root: npm workspaces need the root lockfile). */
export const IMAGES = {
  'logbus-aggregator': 'aggregator/Dockerfile',
  'logbus-publisher': 'publisher/Dockerfile',
} as const;

export interface ImageOptions {
  /** Registry and path prefix, e.g. `ghcr.io/acme`; empty for local images. */
  registry: string;
  tag: string;
  /** Platforms, comma-separated (several: buildx); empty = the engine's own. */
  platform: string;
  /** Push to the registry (several platforms can only be pushed, not kept locally). */
  push: boolean;
}

/**
 * The docker commands to run, in order. One platform: `docker build` (BuildKit, no buildx
 * plugin needed) then `docker push`. Several: `docker buildx build --platform … --push`, which
 * needs buildx and, for foreign platforms, QEMU (docker run --privileged tonistiigi/binfmt --install all).
 */
export function imageCommands(options: ImageOptions): string[][] {
  const prefix = options.registry ? `${options.registry.replace(/\/$/, '')}/` : '';
  return Object.entries(IMAGES).flatMap(([name, dockerfile]) => {
    const image = `${prefix}${name}:${options.tag}`;
    if (options.platform.includes(',')) {
      return [['docker', 'buildx', 'build', '--file', dockerfile, '--tag', image, '--platform', options.platform, '--push', '.']];
    }
    const build = ['docker', 'build', '--file', dockerfile, '--tag', image, ...(options.platform ? ['--platform', options.platform] : []), '.'];
    return options.push ? [build, ['docker', 'push', image]] : [build];
  });
}

/** The helm flags that point the chart at the pushed images. */
export function helmFlags(options: ImageOptions): string {
  const prefix = options.registry ? `${options.registry.replace(/\/$/, '')}/` : '';
  return [
    `--set image.repository=${prefix}logbus-aggregator --set image.tag=${options.tag}`,
    `--set publisher.image.repository=${prefix}logbus-publisher --set publisher.image.tag=${options.tag}`,
  ].join(' ');
}

export function parseImageArgs(argv: string[]): ImageOptions & { dryRun: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      registry: { type: 'string', default: '' },
      tag: { type: 'string' },
      platform: { type: 'string', default: '' },
      load: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  const tag = values.tag ?? version;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw new Error(`--tag ${tag}: not a valid image tag`);
  if (!values.load && !values.registry) throw new Error('give --registry (where to push), or --load for local images');
  if (values.load && values.platform.includes(',')) throw new Error('--load takes one platform: a multi-platform image can only be pushed');
  return { registry: values.registry, tag, platform: values.platform, push: !values.load, dryRun: values['dry-run'] };
}

function main(): number {
  let options: ReturnType<typeof parseImageArgs>;
  try {
    options = parseImageArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`images: ${(error as Error).message}`);
    return 2;
  }
  for (const command of imageCommands(options)) {
    console.log(`$ ${command.join(' ')}`);
    if (options.dryRun) continue;
    const result = spawnSync(command[0]!, command.slice(1), { cwd: REPO, stdio: 'inherit', env: { ...process.env, DOCKER_BUILDKIT: '1' } });
    if (result.status !== 0) {
      console.error(`images: ${command.slice(0, 3).join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
      return 1;
    }
  }
  console.log(`\nhelm install logbus charts/aggregator -n logbus --create-namespace ${helmFlags(options)}`);
  return 0;
}

if (import.meta.main) process.exit(main());
