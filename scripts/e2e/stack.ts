/** The compose stack: up (PostgreSQL, 2 replicas, the proxy on a free port), its containers, teardown. */
import { freePort } from '../../aggregator/src/db/embedded';
import { CHART_CONTAINER, PROJECT, compose, docker, engine, lastLines, must, run } from './shell';
import { check, waitUntil } from './steps';

export const proxyUrl = () => `http://127.0.0.1:${engine.proxyPort}`;

export async function containersOf(service: string): Promise<string[]> {
  return (
    await must(
      docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${service}`),
    )
  )
    .split('\n')
    .filter(Boolean);
}

export async function health(id: string): Promise<string> {
  return (await must(docker('inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}', id))).trim();
}

export async function httpStatus(url: string, init: RequestInit = {}): Promise<number> {
  try {
    return (await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) })).status;
  } catch {
    return 0;
  }
}

export async function composeUp(): Promise<string> {
  engine.proxyPort = await freePort();
  const config = await run(compose('config', '-q'));
  check(config.code === 0, `docker-compose config rejects the file: ${lastLines(config.stderr, 4)}`);
  const version = (await run([...engine.compose, 'version', '--short'])).stdout.trim();
  await must(compose('up', '-d', '--no-build', 'postgres', 'aggregator', 'proxy'), 300_000);
  await waitUntil('2 healthy aggregator replicas', 180_000, async () => {
    const ids = await containersOf('aggregator');
    return ids.length === 2 && (await Promise.all(ids.map(health))).every((h) => h === 'healthy');
  });
  await waitUntil('the proxy answering /ready 200', 60_000, async () => (await httpStatus(`${proxyUrl()}/ready`)) === 200);
  return `compose ${version}: config valid; postgres healthy, 2 aggregator replicas healthy, proxy /ready 200 on 127.0.0.1:${engine.proxyPort}`;
}

export async function teardown(): Promise<string> {
  await run(docker('rm', '-f', CHART_CONTAINER));
  const down = await run(compose('down', '-v', '--remove-orphans', '-t', '20'), { timeoutMs: 180_000 });
  check(down.code === 0, `docker-compose down failed: ${lastLines(down.stderr, 3)}`);
  const left = (await must(docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`))).trim();
  check(left === '', `containers left: ${left.replace(/\n/g, ' ')}`);
  const volumes = (await must(docker('volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`))).trim();
  check(volumes === '', `volumes left: ${volumes}`);
  return 'containers, networks and the data volume removed';
}
