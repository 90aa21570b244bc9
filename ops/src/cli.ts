/**
 * Command line -> a validated Command (pure, unit-tested). Publisher and k6 settings map onto
 * the chart's values (publisher.*, k6.*), because the Job is rendered from the chart.
 */
import { parseArgs } from 'node:util';
import { ExitCode, OpsError } from './error.ts';

export type CommandName = 'publish' | 'load' | 'verify';

export interface Command {
  name: CommandName;
  release: string;
  /** Undefined = the kubeconfig context's namespace, else "default". */
  namespace: string | undefined;
  /** Values files the release was installed with (so the Job matches it). */
  valuesFiles: string[];
  /** helm --set pairs: the user's, then the ones derived from flags. */
  set: string[];
  setString: string[];
  /**
   * helm --set-json pairs for the numeric flags: `--set` turns only integers into numbers, so
   * `publisher.dupRate=0.3` stayed the string "0.3" and failed the chart's schema.
   */
  setJson: string[];
  /** Keep the Job (and its pods) when it fails, for inspection; by default it is deleted. */
  keep: boolean;
  /** Seconds to wait for the Job (publish/load) or for pending to drain (verify). */
  timeoutSeconds: number;
  help: boolean;
}

export const USAGE = `logbus Kubernetes ops tool

usage: npm run k8s -- <command> [flags]

commands:
  publish   run the publisher as a Job (rendered from charts/aggregator), stream its logs,
            then check /stats through the API server's service proxy
  load      run k6/load.js as a Job the same way
  verify    read /stats through the service proxy and check
            received == unique_processed + duplicate_dropped + pending

common flags:
  --release NAME        Helm release (or kustomize prefix) [logbus]
  -n, --namespace NS    namespace [the kubeconfig context's, else default]
  -f, --values FILE     extra values file (repeatable); the Helm release's own values are
                        read from the cluster and applied first
  --set K=V             extra chart value (repeatable)
  --timeout SECONDS     wait at most this long, log following included; a Job still running
                        then is left running [publish/load: 900, verify: 30]
  --keep                publish/load: keep the Job and its pods when it fails (deleted by default)

publish:  --events N --dup-rate R --topics N --batch N --concurrency N --rate N --seed N
          --image REF (publisher image, default from the chart) --no-verify
load:     --vus N --duration D --batch N --dup-rate R --p95-ms N

exit codes: 0 ok, 1 Job failed or invariant broken, 2 usage, 3 cluster unreachable/API error`;

const NUMERIC = /^\d+(\.\d+)?$/;

/** Flag -> chart value, per command. */
const VALUE_FLAGS: Record<'publish' | 'load', Record<string, string>> = {
  publish: {
    events: 'publisher.events',
    'dup-rate': 'publisher.dupRate',
    topics: 'publisher.topics',
    batch: 'publisher.batch',
    concurrency: 'publisher.concurrency',
    rate: 'publisher.rate',
  },
  load: { vus: 'k6.vus', batch: 'k6.batch', 'dup-rate': 'k6.dupRate', 'p95-ms': 'k6.p95Ms' },
};

/** Parses argv (without the runtime and script) into a Command; throws OpsError(Usage). */
export function parseCommand(argv: string[]): Command {
  // biome-ignore lint/suspicious/noImplicitAnyLet: typed by the parseArgs call below, whose options object is the flag table
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        release: { type: 'string', default: 'logbus' },
        namespace: { type: 'string', short: 'n' },
        values: { type: 'string', short: 'f', multiple: true, default: [] },
        set: { type: 'string', multiple: true, default: [] },
        timeout: { type: 'string' },
        events: { type: 'string' },
        'dup-rate': { type: 'string' },
        topics: { type: 'string' },
        batch: { type: 'string' },
        concurrency: { type: 'string' },
        rate: { type: 'string' },
        seed: { type: 'string' },
        image: { type: 'string' },
        'no-verify': { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        vus: { type: 'string' },
        duration: { type: 'string' },
        'p95-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new OpsError(`${(err as Error).message}\n(run with --help for usage)`, ExitCode.Usage);
  }
  const { values: v, positionals } = parsed;
  if (v.help)
    return {
      name: 'verify',
      release: '',
      namespace: undefined,
      valuesFiles: [],
      set: [],
      setString: [],
      setJson: [],
      keep: false,
      timeoutSeconds: 0,
      help: true,
    };
  const name = positionals[0] ?? '';
  if (positionals.length !== 1 || !['publish', 'load', 'verify'].includes(name)) {
    throw new OpsError(
      `expected one command: publish, load or verify (got ${positionals.join(' ') || 'none'})\n(run with --help for usage)`,
      ExitCode.Usage,
    );
  }
  const problems: string[] = [];
  const set = [...(v.set as string[])];
  const setString: string[] = [];
  const setJson: string[] = [];
  for (const s of set) if (!/^[A-Za-z0-9_.[\]-]+=/.test(s)) problems.push(`--set ${s}: expected key=value`);

  const command = name as CommandName;
  const allowed = command === 'verify' ? {} : VALUE_FLAGS[command];
  for (const flag of ['events', 'dup-rate', 'topics', 'batch', 'concurrency', 'rate', 'vus', 'p95-ms']) {
    const raw = v[flag as keyof typeof v] as string | undefined;
    if (raw === undefined) continue;
    const key = (allowed as Record<string, string>)[flag];
    if (!key) problems.push(`--${flag} does not apply to ${command}`);
    else if (!NUMERIC.test(raw)) problems.push(`--${flag} ${raw}: expected a non-negative number`);
    // Integers through --set (int64, printed exactly); fractions through --set-json (a number).
    else if (/^\d+$/.test(raw)) set.push(`${key}=${raw}`);
    else setJson.push(`${key}=${Number(raw)}`);
  }
  const only = (flag: string, cmd: CommandName) => {
    if (v[flag as keyof typeof v] !== undefined && v[flag as keyof typeof v] !== false && command !== cmd)
      problems.push(`--${flag} does not apply to ${command}`);
  };
  for (const f of ['seed', 'image', 'no-verify']) only(f, 'publish');
  if (v.keep && command === 'verify') problems.push('--keep does not apply to verify');
  only('duration', 'load');
  if (v.seed !== undefined) {
    if (!/^\d+$/.test(v.seed)) problems.push(`--seed ${v.seed}: expected an integer`);
    else setString.push(`publisher.seed=${v.seed}`);
  }
  if (v['no-verify']) set.push('publisher.verify=false');
  if (v.duration !== undefined) {
    if (!/^(\d+(ms|s|m|h))+$/.test(v.duration)) problems.push(`--duration ${v.duration}: expected e.g. 20s or 1m30s`);
    else setString.push(`k6.duration=${v.duration}`);
  }
  if (v.image !== undefined) {
    const m = /^(.+?)(?::([\w][\w.-]*))?(@sha256:[a-f0-9]{64})?$/.exec(v.image);
    if (!m) problems.push(`--image ${v.image}: expected repository[:tag][@digest]`);
    else {
      setString.push(`publisher.image.repository=${m[1]}`);
      if (m[2]) setString.push(`publisher.image.tag=${m[2]}`);
      if (m[3]) setString.push(`publisher.image.digest=${m[3].slice(1)}`);
    }
  }
  const timeoutSeconds = v.timeout === undefined ? (command === 'verify' ? 30 : 900) : Number(v.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) problems.push(`--timeout ${v.timeout}: expected seconds`);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v.release!)) problems.push(`--release ${v.release}: not a valid release name`);
  if (problems.length) throw new OpsError(`${problems.join('\n')}\n(run with --help for usage)`, ExitCode.Usage);

  return {
    name: command,
    release: v.release!,
    namespace: v.namespace,
    valuesFiles: v.values as string[],
    set,
    setString,
    setJson,
    keep: v.keep as boolean,
    timeoutSeconds,
    help: false,
  };
}
