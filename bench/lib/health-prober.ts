/**
 * Probes `<url>/health` every 20 ms from a process of its own and prints each answer's latency
 * in ms, one per line, until SIGTERM. A prober inside the process that sends 16 bodies of 5 MiB
 * waits for that process's own event loop too, so its maxima say as much about the sender as
 * about the replica (bench/hostile-health.ts reports both).
 */
export {};

const url = `${process.argv[2]}/health`;
let running = true;
process.on('SIGTERM', () => {
  running = false;
});
while (running) {
  const started = performance.now();
  await (await fetch(url, { signal: AbortSignal.timeout(30_000) })).arrayBuffer();
  process.stdout.write(`${(performance.now() - started).toFixed(2)}\n`);
  await Bun.sleep(20);
}
