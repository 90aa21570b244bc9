/**
 * What the embedded server needs when we run as root. PostgreSQL refuses to run as root, so it
 * runs as a `postgres` user, which must be able to traverse every directory above its binaries
 * and its data. A clone in /root (mode 0700: the usual place in a container or a fresh VM) is out
 * of its reach. We do not loosen the modes of directories we do not own (chmod o+x /root would
 * open a home directory to every local user); instead:
 *   - the binaries are copied once per version to a root-owned, read-only-for-others folder in the
 *     temp directory, replaced atomically (rename) so concurrent starts never see half a copy;
 *   - the cluster stays in DATA_DIR when the user can reach it, else it lives under /var/tmp in a
 *     folder named after DATA_DIR's path, so the same DATA_DIR finds the same data after a restart.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** A failure to start the embedded server, said in one sentence meant for the user. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

export interface Account {
  uid: number;
  gid: number;
}

const ADVICE = 'set DATABASE_URL to a PostgreSQL server instead';

function idOf(flag: '-u' | '-g'): number | null {
  const result = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  return result.status === 0 ? Number(result.stdout.trim()) : null;
}

/** The `postgres` account, created (as a system account without a home) when missing. */
export function postgresAccount(): Account {
  if (idOf('-u') === null) {
    const steps = [
      ['groupadd', '--system', 'postgres'],
      ['useradd', '--system', '--gid', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'],
    ];
    for (const [command, ...args] of steps) {
      const result = spawnSync(command!, args, { encoding: 'utf8' });
      // groupadd fails with 9 when the group exists already, which is what we want.
      if (result.status !== 0 && !(command === 'groupadd' && result.status === 9)) {
        const why = result.error ? result.error.message : result.stderr.trim().split('\n')[0];
        throw new EmbeddedPostgresError(
          `As root the embedded PostgreSQL must run as a "postgres" user, and creating it failed (${command}: ${why}); create that user or ${ADVICE}.`,
        );
      }
    }
  }
  return { uid: idOf('-u')!, gid: idOf('-g')! };
}

/** Whether `account` can reach `path` (every directory above it traversable) with `test -flag`. */
export function canReach(account: Account, path: string, flag: '-x' | '-r' = '-x'): boolean {
  return spawnSync('test', [flag, path], { uid: account.uid, gid: account.gid }).status === 0;
}

/**
 * A folder we may trust: a real directory (not a symlink someone planted in a shared temp
 * directory), owned by root or by `account`, writable by nobody else.
 */
function trusted(path: string, account: Account): boolean {
  try {
    const stat = lstatSync(path);
    return stat.isDirectory() && (stat.uid === 0 || stat.uid === account.uid) && (stat.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** The first of the temp directory, /tmp and /var/tmp that `account` can reach. */
function sharedTemp(account: Account, candidates = [tmpdir(), '/tmp', '/var/tmp']): string {
  const found = candidates.find((dir) => existsSync(dir) && canReach(account, dir));
  if (!found)
    throw new EmbeddedPostgresError(
      `As root the embedded PostgreSQL needs a temporary folder its "postgres" user can reach, and none of ${candidates.join(', ')} is; ${ADVICE}.`,
    );
  return found;
}

/**
 * `nativeDir` (the platform package's bin/lib/share) when `account` can run its server binary,
 * else a copy of it that it can.
 */
export function reachableBinaries(account: Account, nativeDir: string, label: string): string {
  if (canReach(account, join(nativeDir, 'bin', 'postgres'))) return nativeDir;
  const target = join(sharedTemp(account), `logbus-postgres-${label}`);
  const complete = (dir: string) => trusted(dir, account) && existsSync(join(dir, '.complete')) && canReach(account, join(dir, 'bin', 'postgres'));
  if (complete(target)) return target;
  const staging = mkdtempSync(`${target}.partial-`);
  chmodSync(staging, 0o755);
  // Relative symlinks (lib/libpq.so.5 -> libpq.so.5.18) stay relative; file modes are kept.
  cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(staging, '.complete'), '');
  try {
    // Fails when the target exists: never replace a copy another server may be running from.
    renameSync(staging, target);
  } catch {
    // Another process won the race (its copy is complete: it was renamed into place whole).
  }
  if (complete(target)) {
    rmSync(staging, { recursive: true, force: true });
    return target;
  }
  // Something else sits at that name: use our private copy (left behind) rather than trust it.
  if (complete(staging)) return staging;
  throw new EmbeddedPostgresError(
    `As root the embedded PostgreSQL binaries must be copied where the "postgres" user can run them, and copying them to ${target} failed; ${ADVICE}.`,
  );
}

/**
 * The cluster's folder: `<dataDir>/pg` when `account` can reach `dataDir`, else a folder under
 * /var/tmp (kept across reboots, unlike /tmp) named after dataDir's absolute path.
 */
export function reachableDatabaseDir(account: Account, relativeDataDir: string): string {
  // Absolute: `test -x ./data` would succeed from inside the unreachable folder.
  const dataDir = resolve(relativeDataDir);
  mkdirSync(dataDir, { recursive: true });
  // Our own folder: let the server's user through. The cluster inside stays 0700 and its own.
  chmodSync(dataDir, 0o755);
  if (canReach(account, dataDir)) return join(dataDir, 'pg');
  const hash = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  const home = join(sharedTemp(account, ['/var/tmp', tmpdir(), '/tmp']), `logbus-pgdata-${hash}`);
  mkdirSync(home, { recursive: true, mode: 0o755 });
  if (!trusted(home, account)) {
    throw new EmbeddedPostgresError(
      `As root the embedded PostgreSQL needs a data folder its "postgres" user can reach; ${dataDir} is not and ${home} is not ours (owner or mode); remove it, set DATA_DIR to a reachable folder, or ${ADVICE}.`,
    );
  }
  // Leave a pointer where the user looks for the data.
  writeFileSync(join(dataDir, 'WHERE-IS-THE-DATA.txt'), `${join(home, 'pg')}\n(the "postgres" user cannot reach ${dataDir})\n`);
  return join(home, 'pg');
}
