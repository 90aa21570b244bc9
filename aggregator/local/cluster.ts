/**
 * N real aggregator processes on separate ports against one PostgreSQL: the replicas of the
 * fault tests and of `npm run cluster`. Each replica keeps its port across restarts, so a client
 * holding the list of URLs finds a restarted replica where it was.
 */
import { freePort } from '../src/db/embedded';
import { type AggregatorProcess, spawnAggregator } from './process';

export interface ClusterOptions {
  replicas: number;
  databaseUrl: string;
  /** Extra environment for every replica (WORKERS, BATCH_SIZE, …). */
  env?: Record<string, string>;
  /** Per-replica additions to `env`, by index (e.g. a replica without workers). */
  replicaEnv?: Record<string, string>[];
  /** Fixed ports, one per replica; free ports otherwise. */
  ports?: number[];
  /** Respawn a replica that exits while the cluster is not stopping (the dev command does). */
  restartOnExit?: boolean;
  /** Sees each replica's output as it arrives. */
  onOutput?: (replica: number, text: string) => void;
  /** Told about restarts: `exited` with the code, then `restarted` when it is ready again. */
  onEvent?: (replica: number, event: 'exited' | 'restarted', detail: string) => void;
}

// A replica that keeps dying is respawned at most this often: a crash loop must not spin.
const RESTART_DELAY_MS = 500;
const RESTART_DELAY_MAX_MS = 10_000;

export class Cluster {
  private stopping = false;
  private readonly nodes: AggregatorProcess[] = [];
  /** Resolves once a replica that died has been respawned and is ready. */
  private readonly respawns = new Map<number, Promise<AggregatorProcess>>();
  private readonly starting = new Set<AggregatorProcess>();
  private readonly retired = new Set<number>();
  private readonly restarts: number[];

  private constructor(
    private readonly options: ClusterOptions,
    private readonly ports: number[],
  ) {
    this.restarts = ports.map(() => 0);
  }

  /** Starts every replica and waits until each answers /ready with 200. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const ports = options.ports ?? (await Promise.all(Array.from({ length: options.replicas }, () => freePort())));
    if (ports.length !== options.replicas) throw new Error(`${options.replicas} replicas need ${options.replicas} ports`);
    const cluster = new Cluster(options, ports);
    for (let i = 0; i < options.replicas; i++) {
      const node = await cluster.spawn(i);
      // Not respawned while starting: a replica that cannot start fails the whole start.
      cluster.starting.add(node);
      cluster.nodes.push(node);
    }
    try {
      await Promise.all(cluster.nodes.map((node) => node.waitReady(60_000)));
      cluster.starting.clear();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get size(): number {
    return this.nodes.length;
  }

  /** Base URLs, replica i at index i (stable across restarts). */
  get urls(): string[] {
    return this.ports.map((port) => `http://127.0.0.1:${port}`);
  }

  /** The current process of replica i. */
  node(i: number): AggregatorProcess {
    return this.nodes[i]!;
  }

  /** How many times replica i was respawned after dying. */
  restartCount(i: number): number {
    return this.restarts[i]!;
  }

  private async spawn(i: number): Promise<AggregatorProcess> {
    const env = { ...this.options.env, ...this.options.replicaEnv?.[i], DATABASE_URL: this.options.databaseUrl };
    const node = await spawnAggregator(env, this.ports[i], {
      onOutput: this.options.onOutput && ((text) => this.options.onOutput!(i, text)),
    });
    void node.exited.then((code) => this.onExit(i, node, code));
    return node;
  }

  private onExit(i: number, node: AggregatorProcess, code: number): void {
    // A process still starting inside the respawn loop below is that loop's business.
    if (this.stopping || this.retired.has(i) || this.nodes[i] !== node || this.starting.has(node) || !this.options.restartOnExit) return;
    this.options.onEvent?.(i, 'exited', `code ${code}${node.proc.signalCode ? ` (${node.proc.signalCode})` : ''}`);
    const delay = Math.min(RESTART_DELAY_MAX_MS, RESTART_DELAY_MS * 2 ** Math.min(this.restarts[i]!, 10));
    const respawn = (async () => {
      await Bun.sleep(delay);
      for (let attempt = 1; ; attempt++) {
        if (this.stopping) return node;
        const next = await this.spawn(i);
        this.starting.add(next);
        this.nodes[i] = next;
        try {
          await next.waitReady(60_000);
          this.starting.delete(next);
          this.restarts[i]!++;
          this.options.onEvent?.(i, 'restarted', next.url);
          // Died between answering /ready and now: hand it to a fresh round of this handler.
          if (next.proc.exitCode !== null) this.onExit(i, next, next.proc.exitCode);
          return next;
        } catch {
          this.starting.delete(next);
          if (next.proc.exitCode === null) next.kill('SIGKILL');
          await next.exited;
          await Bun.sleep(Math.min(RESTART_DELAY_MAX_MS, RESTART_DELAY_MS * 2 ** Math.min(attempt, 10)));
        }
      }
    })();
    this.respawns.set(i, respawn);
    void respawn.finally(() => {
      if (this.respawns.get(i) === respawn) this.respawns.delete(i);
    });
  }

  /** Waits until replica i runs a process other than `previous` that answered /ready (restartOnExit). */
  async respawned(i: number, previous: AggregatorProcess, timeoutMs = 60_000): Promise<AggregatorProcess> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = this.nodes[i]!;
      if (current !== previous && !this.starting.has(current) && !this.respawns.has(i)) return current;
      if (Date.now() > deadline) throw new Error(`replica ${i} was not respawned within ${timeoutMs} ms`);
      await Bun.sleep(20);
    }
  }

  /** Replaces replica i by a fresh process on the same port (after it exited or was killed). */
  async restart(i: number): Promise<AggregatorProcess> {
    const old = this.nodes[i]!;
    if (old.proc.exitCode === null && old.proc.signalCode === null) {
      old.kill('SIGKILL');
      await old.exited;
    }
    const next = await this.spawn(i);
    this.nodes[i] = next;
    await next.waitReady(60_000);
    return next;
  }

  /** Stops replica i for good with SIGTERM (no respawn); resolves with its exit code. */
  async retire(i: number): Promise<number> {
    this.retired.add(i);
    const node = this.nodes[i]!;
    node.kill('SIGTERM');
    return node.exited;
  }

  /** SIGTERM to every replica; resolves with their exit codes (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 30_000): Promise<(number | null)[]> {
    this.stopping = true;
    await Promise.all([...this.respawns.values()].map((respawn) => respawn.catch(() => {})));
    return Promise.all(
      this.nodes.map(async (node) => {
        if (node.proc.exitCode !== null || node.proc.signalCode !== null) return node.proc.exitCode;
        node.kill('SIGTERM');
        const timer = setTimeout(() => node.kill('SIGKILL'), timeoutMs);
        const code = await node.exited;
        clearTimeout(timer);
        return code;
      }),
    );
  }
}
