/**
 * Real aggregator processes (`bun src/main.ts`) for tests that need signals, crashes and
 * several replicas: the same entry point `npm start` runs.
 */
import { type Subprocess, spawn } from 'bun';
import { resolve } from 'node:path';
import { freePort } from '../src/db/embedded';

const MAIN = resolve(import.meta.dir, '../src/main.ts');

export interface AggregatorProcess {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  pid: number;
  port: number;
  url: string;
  /** What the process printed so far (stdout + stderr), the last OUTPUT_KEPT characters. */
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  waitReady(timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

export interface SpawnOptions {
  /** Sees every chunk of output as it arrives (the cluster command prints them). */
  onOutput?: (text: string) => void;
  /** Another build's entry point (the upgrade test runs the previous release's main.ts). */
  main?: string;
}

// A long-running replica (npm run cluster) must not grow the parent's memory with its logs;
// tests only look at recent lines.
const OUTPUT_KEPT = 1 << 20;

export async function spawnAggregator(env: Record<string, string>, port?: number, options: SpawnOptions = {}): Promise<AggregatorProcess> {
  const chosen = port ?? (await freePort());
  const proc = spawn([process.execPath, options.main ?? MAIN], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env, PORT: String(chosen) },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let output = '';
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      options.onOutput?.(text);
      output += text;
      if (output.length > 2 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
    }
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const url = `http://127.0.0.1:${chosen}`;
  return {
    proc,
    pid: proc.pid,
    port: chosen,
    url,
    output: () => output.slice(-OUTPUT_KEPT),
    exited: proc.exited,
    async waitReady(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (proc.exitCode !== null) throw new Error(`aggregator exited with ${proc.exitCode}:\n${output}`);
        try {
          const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1_000) });
          if (response.status === 200) return;
        } catch {
          // not listening yet
        }
        await Bun.sleep(50);
      }
      throw new Error(`aggregator not ready after ${timeoutMs} ms:\n${output}`);
    },
    kill(signal = 'SIGTERM') {
      proc.kill(signal);
    },
  };
}
