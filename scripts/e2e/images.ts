/** Base images (pulled or stand-ins), the two builds, and what the aggregator image must (not) hold. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { aptInstall } from './engine';
import { AGGREGATOR_IMAGE, OPERATOR_IMAGE, PUBLISHER_IMAGE, REPO, STANDINS_DIR, childEnv, docker, lastLines, must, run, say, which } from './shell';
import { check } from './steps';

/** The base images the Dockerfiles and the compose file name (ARG defaults substituted). */
export function baseImages(): string[] {
  const tags = new Set<string>();
  for (const file of ['aggregator/Dockerfile', 'publisher/Dockerfile', 'ops/Dockerfile']) {
    const args: Record<string, string> = {};
    for (const line of readFileSync(join(REPO, file), 'utf8').split('\n')) {
      const arg = /^ARG\s+(\w+)=(\S+)/.exec(line);
      if (arg) args[arg[1]!] = arg[2]!;
      const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)/i.exec(line);
      if (from) tags.add(from[1]!.replace(/\$\{(\w+)\}/g, (_, k) => args[k] ?? ''));
    }
  }
  const services = parseYaml(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8')).services as Record<
    string,
    { image: string; build?: unknown; profiles?: string[] }
  >;
  for (const s of Object.values(services)) if (!s.build && !s.profiles) tags.add(s.image);
  return [...tags].sort();
}

async function imageExists(tag: string): Promise<boolean> {
  return (await run(docker('image', 'inspect', tag), { timeoutMs: 30_000 })).code === 0;
}

function standinsScript(): string | null {
  const dirs = [process.env.OFFLINE_IMAGES_DIR, join(REPO, '../shared/offline-images')].filter(Boolean) as string[];
  for (const d of dirs) if (existsSync(join(d, 'build-standins.sh'))) return join(d, 'build-standins.sh');
  return null;
}

export async function ensureBaseImages(): Promise<string> {
  const wanted = baseImages();
  const missing: string[] = [];
  for (const tag of wanted) if (!(await imageExists(tag))) missing.push(tag);
  if (missing.length === 0) return `${wanted.length} present already (${wanted.join(', ')})`;
  const pulled: string[] = [];
  let pullError = '';
  for (const tag of missing) {
    const r = await run(docker('pull', '-q', tag), { timeoutMs: 300_000 });
    if (r.code !== 0) {
      pullError = lastLines(r.stderr, 1);
      break;
    }
    pulled.push(tag);
  }
  const still = missing.filter((t) => !pulled.includes(t));
  if (still.length === 0) return `pulled ${pulled.join(', ')}`;
  say(`cannot pull ${still[0]} (${pullError}); building local stand-ins`);
  const script = standinsScript();
  if (!script)
    throw new Error(
      `base images missing (${still.join(', ')}), the registry is unreachable and no build-standins.sh was found (set OFFLINE_IMAGES_DIR; looked in ../shared/offline-images)`,
    );
  if (!(await which('mmdebstrap'))) {
    const failed = await aptInstall(['mmdebstrap']);
    if (failed) throw new Error(`the stand-in builder needs mmdebstrap: ${failed}`);
  }
  mkdirSync(STANDINS_DIR, { recursive: true });
  const env = {
    ...childEnv(),
    ...(existsSync('/etc/ssl/certs/ca-certificates.crt') && !process.env.HOST_CA_BUNDLE
      ? { HOST_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt' }
      : {}),
  };
  const t0 = performance.now();
  const r = await run(['bash', script, STANDINS_DIR], { env: env as Record<string, string>, timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`the stand-in builder ${script} itself failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout, 8)}`);
  const after: string[] = [];
  for (const tag of still) if (!(await imageExists(tag))) after.push(tag);
  check(after.length === 0, `the stand-in builder ran but did not produce ${after.join(', ')}`);
  return `${pulled.length ? `pulled ${pulled.join(', ')}; ` : ''}stand-ins built in ${((performance.now() - t0) / 1000).toFixed(0)} s for ${still.join(', ')} (${script})`;
}

/** The runtime node_modules must not hold these (aggregator/Dockerfile prunes them). */
const PRUNED = ['typescript', '@typescript', 'bun-types', '@types', 'undici-types', 'openapi-types', 'pg', 'pg-protocol', 'pg-types'];

export async function buildImages(): Promise<string> {
  const t0 = performance.now();
  await must(docker('build', '-q', '-f', 'aggregator/Dockerfile', '-t', AGGREGATOR_IMAGE, '.'), 600_000);
  const t1 = performance.now();
  await must(docker('build', '-q', '-f', 'publisher/Dockerfile', '-t', PUBLISHER_IMAGE, '.'), 600_000);
  const t2 = performance.now();
  return `aggregator ${((t1 - t0) / 1000).toFixed(0)} s, publisher ${((t2 - t1) / 1000).toFixed(0)} s (BuildKit, no frontend image fetched)`;
}

export async function prunedImage(): Promise<string> {
  const listing = JSON.parse(
    await must(
      docker(
        'run',
        '--rm',
        '--read-only',
        '--user',
        '1000:1000',
        '--network',
        'none',
        '--entrypoint',
        'bun',
        AGGREGATOR_IMAGE,
        '-e',
        `const fs=require('fs'),p=require('path');let bytes=0;const walk=(d)=>{for(const e of fs.readdirSync(d,{withFileTypes:true})){const f=p.join(d,e.name);if(e.isDirectory())walk(f);else if(e.isFile())bytes+=fs.statSync(f).size}};walk('/app/node_modules');` +
          `const names=fs.readdirSync('/app/node_modules').flatMap((n)=>n.startsWith('@')?[n,...fs.readdirSync('/app/node_modules/'+n).map((x)=>n+'/'+x)]:[n]);console.log(JSON.stringify({bytes,names}))`,
      ),
    ),
  ) as { bytes: number; names: string[] };
  const leftovers = PRUNED.filter((n) => listing.names.includes(n) && (n.startsWith('@') ? listing.names.some((x) => x.startsWith(`${n}/`)) : true));
  check(leftovers.length === 0, `the aggregator image still ships ${leftovers.join(', ')}`);
  for (const needed of ['elysia', 'postgres', 'drizzle-orm', 'pino', 'prom-client'])
    check(listing.names.includes(needed), `the aggregator image lacks ${needed}`);
  const layer = (await must(docker('history', '--format', '{{.Size}}\t{{.CreatedBy}}', AGGREGATOR_IMAGE)))
    .split('\n')
    .find((l) => l.includes('node_modules'))
    ?.split('\t')[0];
  return `node_modules ${(listing.bytes / 1e6).toFixed(1)} MB of files (layer ${layer}), none of ${PRUNED.join(', ')}; elysia, postgres, drizzle-orm, pino, prom-client present (the later steps run it)`;
}

/** The operator image builds and its module graph loads: outside a cluster it refuses at once, exit 3. */
export async function operatorImage(): Promise<string> {
  const t0 = performance.now();
  await must(docker('build', '-q', '-f', 'ops/Dockerfile', '-t', OPERATOR_IMAGE, '.'), 600_000);
  const built = ((performance.now() - t0) / 1000).toFixed(0);
  const r = await run(docker('run', '--rm', '--read-only', '--user', '1000:1000', '--cap-drop', 'ALL', '--network', 'none', OPERATOR_IMAGE), {
    timeoutMs: 60_000,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  check(r.code === 3 && /no Kubernetes cluster/.test(out), `expected exit 3 "no Kubernetes cluster", got ${r.code}: ${lastLines(out, 3)}`);
  return `built in ${built} s; without a cluster: exit 3 "no Kubernetes cluster"`;
}

export async function noDatabaseUrl(): Promise<string> {
  const r = await run(docker('run', '--rm', '--read-only', '--user', '1000:1000', '--cap-drop', 'ALL', '--network', 'none', AGGREGATOR_IMAGE), {
    timeoutMs: 60_000,
  });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.trim());
  check(r.code !== 0, `exited 0 without DATABASE_URL`);
  check(lines.length === 1, `expected one line, got ${lines.length}: ${lines.slice(0, 3).join(' | ')}`);
  check(/DATABASE_URL/.test(lines[0]!) && !/uncaught/i.test(lines[0]!), `unclear message: ${lines[0]}`);
  return `exit ${r.code}: "${lines[0]!.slice(0, 90)}…"`;
}
