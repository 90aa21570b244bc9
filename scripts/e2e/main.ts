#!/usr/bin/env bun
/**
 * `npm run e2e` (scripts/e2e/, this file and one module per part): the deployment run for real on a Docker engine. `.ci/run` calls it after
 * `npm test`. Steps (each passes or fails on its own; a closing line `e2e: N passed, N failed`):
 *
 *   base images     pulled, or local stand-ins built by ../shared/offline-images/build-standins.sh
 *                   when the registry is out of reach (see that folder's README)
 *   build           both images with BuildKit (no `# syntax=` line: no frontend image to fetch)
 *   pruned          the aggregator's node_modules holds no type-only/unused package
 *   no DATABASE_URL the aggregator image says in one line that it needs DATABASE_URL, exit != 0
 *   compose up      `docker-compose config` (v1 here; the file is Compose-spec valid for v2), then
 *                   PostgreSQL, 2 replicas and the proxy healthy
 *   chart-style     the aggregator as the chart runs it (read-only root, numeric non-root user,
 *                   all capabilities dropped, tmpfs at the chart's emptyDir mounts, the chart's env
 *                   and probes, all read from `helm template`): probes pass, it serves, only /tmp
 *                   is writable, SIGTERM drains and exits 0
 *   publish         POST /publish through the proxy, then the publisher image with --verify
 *   publisher stop  SIGTERM/SIGINT end the publisher through tini (143/130, never 139)
 *   replica stop    a replica stopped under load: no client-visible error, no request over ~1 s,
 *                   every acknowledged event processed exactly once
 *   postgres restart  PostgreSQL restarted in place comes back healthy (socket tmpfs owned by 999)
 *                   and the replicas serve again
 *   teardown        `docker-compose down -v`: nothing of the project left
 *
 * Each run is its own: RUN = E2E_RUN_ID, else the process id, names the dockerd socket
 * (/run/logbus-e2e-RUN.sock), its data root, exec root and log, and the compose project
 * (logbus-e2e-RUN), so two runs on one machine never share a stack (shell.ts).
 *
 * The engine: E2E_DOCKER_HOST if set; else its own dockerd on unix:///run/logbus-e2e-RUN.sock (it
 * never starts one on the default socket, which test runs would detect; one already serving it is
 * used), installing Debian's docker.io and docker-compose when absent and stopping the dockerd it
 * started at the end, also on SIGINT/SIGTERM. No engine: a printed reason
 * and exit 0. Env: E2E_RUN_ID, E2E_DOCKER_HOST, E2E_DOCKER_DATA_ROOT, OFFLINE_IMAGES_DIR,
 * E2E_STANDINS_DIR.
 */
import { chartStyle } from './chart-style';
import { ensureEngine, startedOwnEngine, stopOurDockerd } from './engine';
import { postgresRestart, replicaStop } from './faults';
import { baseImages, buildImages, ensureBaseImages, noDatabaseUrl, operatorImage, prunedImage } from './images';
import { CHART_CONTAINER, compose, docker, engine, lastLines, run, say } from './shell';
import { composeUp, teardown } from './stack';
import { finish, isBlocked, step, unblock } from './steps';
import { publishAndVerify, publisherSignals } from './traffic';

// Ctrl-C or a CI timeout: leave no stack, no volume and no dockerd of ours behind.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    say(`${signal}: tearing down`);
    await run(docker('rm', '-f', CHART_CONTAINER), { timeoutMs: 30_000 });
    await run(compose('down', '-v', '--remove-orphans', '-t', '5'), { timeoutMs: 60_000 });
    await stopOurDockerd();
    process.exit(130);
  });
}

const noEngine = await ensureEngine();
if (noEngine) {
  say(`skipped: no container engine can run here: ${noEngine}`);
  await stopOurDockerd();
  finish(0);
}
say(`engine ${engine.host}${startedOwnEngine() ? ' (started by this run)' : ''}; compose: ${engine.compose.join(' ')}`);

let composeStarted = false;
try {
  await step('base images', ensureBaseImages, { blocking: true });
  // A container must be able to start at all (some sandboxes run dockerd but no runtime).
  if (!isBlocked()) {
    const bun = baseImages().find((t) => t.startsWith('oven/bun:') && t.endsWith('-distroless'))!;
    const probe = await run(docker('run', '--rm', '--network', 'none', '--entrypoint', '/usr/local/bin/bun', bun, '--version'), {
      timeoutMs: 60_000,
    });
    if (probe.code !== 0) {
      say(`skipped: the engine cannot start containers: ${lastLines(probe.stderr, 2)}`);
      await stopOurDockerd();
      finish(0);
    }
  }
  await step('build images', buildImages, { blocking: true });
  await step('aggregator image pruned', prunedImage);
  await step('aggregator image without DATABASE_URL', noDatabaseUrl);
  await step('operator image', operatorImage);
  composeStarted = true;
  await step('compose up', composeUp, { blocking: true });
  await step('aggregator run the chart way', chartStyle);
  await step('publish through the proxy + publisher --verify', publishAndVerify);
  await step('publisher image: SIGTERM/SIGINT through tini', publisherSignals);
  await step('stop a replica under load', replicaStop);
  await step('restart PostgreSQL', postgresRestart);
} finally {
  unblock();
  if (composeStarted) await step('teardown', teardown);
  await stopOurDockerd();
}
finish(0);
