/**
 * One logbus per port and per data directory. Two `npm start` in one checkout used to share the
 * port (SO_REUSEPORT) and the second stopped the first one's embedded PostgreSQL as an orphan;
 * now the second refuses to start and names the process in the way.
 */
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

/** Another process holds what this one needs; the message is one sentence for the user. */
export class InstanceConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstanceConflict';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `bun src/main.ts` for a pid, when /proc says (Linux); '' elsewhere. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

function describe(pid: number): string {
  const command = commandOf(pid);
  return command ? `pid ${pid} (${command.slice(0, 120)})` : `pid ${pid}`;
}

/**
 * Takes `<dataDir>/logbus.pid` for this process, or throws InstanceConflict naming the live
 * process that holds it. A file left by a process that is gone (SIGKILL, a crash) is taken over.
 * Returns the release function (also run at exit).
 */
export function claimDataDir(dataDir: string): () => void {
  const file = join(resolve(dataDir), 'logbus.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(file, 'utf8').split('\n')[0]);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new InstanceConflict(
          `Another logbus (${describe(holder)}) is using the data directory ${resolve(dataDir)}: stop it first, or set DATA_DIR to another folder.`,
        );
      }
      rmSync(file, { force: true }); // stale: its process is gone
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    const release = () => {
      try {
        if (Number(readFileSync(file, 'utf8').split('\n')[0]) === process.pid) rmSync(file, { force: true });
      } catch {
        // already gone
      }
    };
    process.once('exit', release);
    return release;
  }
  throw new InstanceConflict(`Could not take ${file}: another process keeps recreating it.`);
}

/** The pid listening on TCP `port` (Linux /proc), or null when it cannot be told. */
export function portHolder(port: number): number | null {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEX_ADDR:HEX_PORT; state 0A is LISTEN; field 9 is the socket inode.
      if (fields.length > 9 && fields[3] === '0A' && Number.parseInt(fields[1]!.split(':')[1]!, 16) === port) inodes.add(fields[9]!);
    }
  }
  if (inodes.size === 0) return null;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('socket:[') && inodes.has(target.slice(8, -1))) return Number(pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

/** The sentence for a port someone else listens on. */
export function portInUse(port: number): InstanceConflict {
  const holder = portHolder(port);
  const who = holder === null ? 'another process' : describe(holder);
  return new InstanceConflict(
    `Port ${port} is already in use by ${who}: stop it, or set PORT to another port (REUSE_PORT=true shares a port between logbus processes on purpose).`,
  );
}

/** Throws InstanceConflict when `port` cannot be bound exclusively (checked before any slow start). */
export async function assertPortFree(port: number): Promise<void> {
  if (port === 0) return;
  const free = await new Promise<boolean>((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen({ port, host: '0.0.0.0', exclusive: true }, () => probe.close(() => resolveFree(true)));
  });
  if (!free) throw portInUse(port);
}
