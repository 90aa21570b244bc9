/**
 * logbus Kubernetes ops tool: `npm run k8s -- publish|load|verify [flags]` (see cli.ts USAGE).
 * Composition root: argv -> Command -> render the Job from the chart -> create it, follow its
 * pod's log, wait for the Job -> check /stats through the API server's service proxy.
 */
import { type Command, parseCommand, USAGE } from './cli.ts';
import { helmTemplate, parseManifests } from './chart.ts';
import { ExitCode, OpsError } from './error.ts';
import { renderJob } from './jobs.ts';
import { applyConfigMap, type Cluster, connect, createJob, deleteConfigMap, deleteJob, followJob, proxyGetJson } from './kube.ts';
import { managedByOperator, runThroughOperator } from './operator-runs.ts';
import { readReleaseValues } from './release-values.ts';
import { formatStats, type Stats, statsProblems } from './stats.ts';

const log = (msg: string) => console.error(`k8s: ${msg}`);

/** The release's aggregator Service, from the chart with the release's values. */
function serviceOf(cmd: Command, namespace: string): { name: string; portName: string } {
  const objects = parseManifests(
    helmTemplate({
      release: cmd.release,
      namespace,
      valuesFiles: cmd.valuesFiles,
      set: cmd.set,
      setString: cmd.setString,
      setJson: cmd.setJson,
      showOnly: ['templates/service.yaml'],
    }),
  );
  return { name: objects[0]!.metadata.name, portName: objects[0]!.spec.ports[0]!.name };
}

/** Reads /stats until pending is 0 (or the deadline), then checks the invariant. */
async function verify(c: Cluster, svc: { name: string; portName: string }, timeoutSeconds: number): Promise<Stats> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let stats = (await proxyGetJson(c, svc.name, svc.portName, 'stats')) as Stats;
  while (stats?.pending > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    stats = (await proxyGetJson(c, svc.name, svc.portName, 'stats')) as Stats;
  }
  const problems = statsProblems(stats);
  if (problems.length) throw new OpsError(`/stats invariant violated: ${problems.join('; ')}`);
  log(`/stats ok: ${formatStats(stats)}`);
  return stats;
}

async function runJob(cmd: Command, c: Cluster): Promise<void> {
  const kind = cmd.name === 'publish' ? 'publisher' : 'k6';
  const rendered = renderJob({
    kind,
    release: cmd.release,
    namespace: c.namespace,
    valuesFiles: cmd.valuesFiles,
    set: cmd.set,
    setString: cmd.setString,
    setJson: cmd.setJson,
  });
  const deadline = Date.now() + cmd.timeoutSeconds * 1000;
  const configMap = rendered.configMap && (await applyConfigMap(c, rendered.configMap)) === 'created' ? rendered.configMap.metadata.name : undefined;
  let job: Awaited<ReturnType<typeof createJob>>;
  try {
    job = await createJob(c, rendered.job);
  } catch (err) {
    await cleanUp(c, cmd, undefined, configMap);
    throw err;
  }
  const name = job.metadata!.name!;
  log(`created Job ${c.namespace}/${name}`);
  const logs = `kubectl -n ${c.namespace} logs job/${name}`;
  let watch: Awaited<ReturnType<typeof followJob>>;
  try {
    watch = await followJob(c, job, kind, deadline, process.stdout, log);
  } catch (err) {
    await cleanUp(c, cmd, name, configMap);
    throw err;
  }
  if ('timedOut' in watch) {
    // Still running: it is neither failed nor ours to delete; the user can follow it on.
    throw new OpsError(
      `Job ${name} is still running after --timeout ${cmd.timeoutSeconds} s; it was left running: follow it with ` +
        `\`${logs} -f\`, delete it with \`kubectl -n ${c.namespace} delete job ${name}\``,
    );
  }
  if (watch.podsFollowed === 0) log(`Job ${name} finished before a pod of it was seen; its log: ${logs}`);
  if (!watch.result.ok) {
    await cleanUp(c, cmd, name, configMap);
    // Point at `kubectl logs` only when the Job is still there to answer it.
    const where = cmd.keep ? `logs: ${logs}` : 'its log is above; rerun with --keep to keep the Job for kubectl logs';
    throw new OpsError(`Job ${name} failed (${watch.result.reason}); ${where}`);
  }
  log(`Job ${name} completed`);
  await verify(c, rendered.service, 30);
}

/** After a failure: deletes the Job (with its pods) and a ConfigMap this run created, unless --keep. */
async function cleanUp(c: Cluster, cmd: Command, job: string | undefined, configMap: string | undefined): Promise<void> {
  if (cmd.keep) {
    if (job) log(`kept Job ${c.namespace}/${job} (--keep); delete it with: kubectl -n ${c.namespace} delete job ${job}`);
    return;
  }
  for (const [what, remove] of [
    [job && `Job ${job}`, () => deleteJob(c, job!)],
    [configMap && `ConfigMap ${configMap}`, () => deleteConfigMap(c, configMap!)],
  ] as const) {
    if (!what) continue;
    try {
      await remove();
      log(`deleted ${what} (pass --keep to keep it for inspection)`);
    } catch (err) {
      log(`could not delete ${what}: ${(err as Error).message}`);
    }
  }
}

/**
 * The release's own values go first, so the Job matches what was installed (images, names,
 * ports); the user's -f files and --set flags still win over them.
 */
async function withReleaseValues(cmd: Command, c: Cluster): Promise<Command> {
  const release = await readReleaseValues(c, cmd.release);
  if ('missing' in release) {
    // verify only needs the Service's name, which the defaults give for a default install.
    if (cmd.name !== 'verify') log(`${release.missing}: using the chart's defaults and your flags only`);
    return cmd;
  }
  log(`using the values of Helm release ${cmd.release} (revision ${release.revision}), then your -f/--set`);
  return { ...cmd, valuesFiles: [release.file, ...cmd.valuesFiles] };
}

/** Runs the tool; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const parsed = parseCommand(argv);
    if (parsed.help) {
      console.log(USAGE);
      return 0;
    }
    const c = await connect(parsed.namespace);
    const cmd = await withReleaseValues(parsed, c);
    if (cmd.name === 'verify') await verify(c, serviceOf(cmd, c.namespace), cmd.timeoutSeconds);
    else if (await managedByOperator(c, cmd.release)) await runThroughOperator(cmd, c);
    else await runJob(cmd, c);
    return 0;
  } catch (err) {
    if (err instanceof OpsError) {
      console.error(`k8s: ${err.message}`);
      return err.exitCode;
    }
    console.error(`k8s: unexpected error: ${(err as Error)?.stack ?? err}`);
    return ExitCode.Failed;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
