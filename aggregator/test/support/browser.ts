/**
 * A Chromium for the browser tests, found without a system package when possible:
 *   1. CHROMIUM_PATH, when set (then it must work);
 *   2. the Chromium that @sparticuz/chromium ships inside its npm tarball (brotli-compressed,
 *      Linux x64 only), inflated once per version under the temp directory. `npm install` brings
 *      it, and the lockfile pins it, so every machine tests the same browser. When the system
 *      lacks the NSS libraries it links against, the package's own copies (al2023.tar.br) are
 *      unpacked beside it and put on LD_LIBRARY_PATH;
 *   3. a system Chromium (/usr/bin/chromium and friends: Debian's, what .ci/run installs when 2
 *      cannot run).
 * Each candidate must actually launch; when none does, the caller skips with the reasons.
 * `bun aggregator/test/support/browser.ts` prints what it found (exit 1: nothing).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import { chromium } from 'playwright-core';

export interface Browser {
  executablePath: string;
  /** Extra environment for the browser process (LD_LIBRARY_PATH for the packaged libraries). */
  env: Record<string, string>;
  /** Where it came from, for the test log. */
  source: string;
}

export type BrowserSearch = { browser: Browser } | { browser: null; reason: string };

const SYSTEM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/Applications/Chromium.app/Contents/MacOS/Chromium'];
const ROOT = resolve(import.meta.dir, '../../..');

/** Decompresses a .br file to `target` through a temporary name, so a reader never sees half. */
async function inflate(source: string, target: string, mode: number): Promise<void> {
  if (existsSync(target)) return;
  const partial = `${target}.partial-${process.pid}`;
  await pipeline(createReadStream(source), createBrotliDecompress(), createWriteStream(partial, { mode }));
  chmodSync(partial, mode);
  renameSync(partial, target);
}

/** Shared libraries the dynamic linker cannot find for `binary` (Linux; empty elsewhere). */
function missingLibraries(binary: string, env: Record<string, string> = {}): string[] {
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (ldd.status !== 0) return [];
  return ldd.stdout
    .split('\n')
    .filter((line) => line.includes('not found'))
    .map((line) => line.trim().split(' ')[0]!);
}

/** The packaged Chromium, inflated (with its libraries when the system lacks them). */
async function packagedChromium(): Promise<Browser> {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(`@sparticuz/chromium ships Linux x64 only (this is ${process.platform}-${process.arch})`);
  const manifest = createRequire(join(ROOT, 'package.json')).resolve('@sparticuz/chromium/package.json');
  const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  const bin = join(dirname(manifest), 'bin');
  const dir = join(tmpdir(), `logbus-chromium-${version}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const executablePath = join(dir, 'chromium');
  await inflate(join(bin, 'chromium.br'), executablePath, 0o755);
  let env: Record<string, string> = {};
  if (missingLibraries(executablePath).length > 0) {
    const libs = join(dir, 'lib');
    if (!existsSync(libs)) {
      const tar = join(dir, 'al2023.tar');
      await inflate(join(bin, 'al2023.tar.br'), tar, 0o644);
      const staging = `${dir}/unpack-${process.pid}`;
      mkdirSync(staging, { recursive: true });
      const untar = spawnSync('tar', ['-xf', tar, '-C', staging], { encoding: 'utf8' });
      if (untar.status !== 0) throw new Error(`could not unpack its libraries: ${untar.stderr.trim()}`);
      try {
        renameSync(join(staging, 'lib'), libs);
      } catch {
        // Another process unpacked them first.
      }
      rmSync(staging, { recursive: true, force: true });
    }
    env = { LD_LIBRARY_PATH: [libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
    const still = missingLibraries(executablePath, env);
    if (still.length > 0) throw new Error(`it needs libraries this system lacks: ${still.join(', ')}`);
  }
  return { executablePath, env, source: `@sparticuz/chromium ${version} (npm)` };
}

/** Launches and closes `browser` once: a binary that exists but cannot run is no browser. */
async function launches(browser: Browser): Promise<void> {
  const launched = await chromium.launch({
    executablePath: browser.executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
    env: { ...process.env, ...browser.env } as Record<string, string>,
    timeout: 30_000,
  });
  await launched.close();
}

/** The first browser that launches, in the order above, or why there is none. */
export async function findBrowser(env: NodeJS.ProcessEnv = process.env): Promise<BrowserSearch> {
  const tried: string[] = [];
  const explicit = env.CHROMIUM_PATH?.trim();
  const candidates: [string, () => Promise<Browser>][] = explicit
    ? [[`CHROMIUM_PATH=${explicit}`, async () => ({ executablePath: explicit, env: {}, source: `CHROMIUM_PATH (${explicit})` })]]
    : [
        ['@sparticuz/chromium', packagedChromium],
        ...SYSTEM.filter((path) => existsSync(path)).map((path): [string, () => Promise<Browser>] => [
          path,
          async () => ({ executablePath: path, env: {}, source: `system (${path})` }),
        ]),
      ];
  for (const [name, make] of candidates) {
    try {
      const browser = await make();
      await launches(browser);
      return { browser };
    } catch (error) {
      tried.push(`${name}: ${((error as Error).message ?? String(error)).split('\n')[0]}`);
    }
  }
  if (!explicit && !SYSTEM.some((path) => existsSync(path))) tried.push(`no system Chromium at ${SYSTEM.join(', ')}`);
  return { browser: null, reason: `no Chromium could run (${tried.join('; ')})` };
}

if (import.meta.main) {
  const found = await findBrowser();
  console.log(found.browser ? `browser: ${found.browser.source} at ${found.browser.executablePath}` : found.reason);
  process.exit(found.browser ? 0 : 1);
}
