/**
 * Command line and environment → Options. Every flag has an environment variable so the same
 * image runs as a Kubernetes Job (env) or from a shell (flags); a flag beats its variable, which
 * beats the default. `toOptions` is pure and collects every problem before failing, like the
 * aggregator's loadConfig, so one run shows all mistakes at once.
 */
import { parseArgs } from "node:util";
import { UsageError } from "./error.ts";

/** Validated publisher settings, passed down as one frozen value. */
export interface Options {
  /** Aggregator base URL; /publish and /stats are resolved against it. */
  readonly url: URL;
  readonly events: number;
  /** Fraction of `events` that re-send an earlier event, 0 ≤ dupRate < 1. */
  readonly dupRate: number;
  readonly topics: number;
  /** Events per POST /publish request. */
  readonly batch: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Events per second across all requests; undefined = as fast as the server accepts. */
  readonly rate: number | undefined;
  /** 32-bit seed; the same seed generates the same bytes. Undefined = a random seed per run. */
  readonly seed: number | undefined;
  readonly token: string | undefined;
  readonly json: boolean;
  readonly verify: boolean;
  readonly help: boolean;
  /** Per-request timeout in ms, after which the attempt is aborted and retried. */
  readonly timeoutMs: number;
  /** Attempts per request, the first one included. */
  readonly attempts: number;
  /** Overall deadline in ms for sending and verifying. */
  readonly deadlineMs: number;
  /** How long the start-up probe waits for something to listen at `url` (0: say so at once). */
  readonly waitMs: number;
  /** Send the events of this NDJSON file ("-" = stdin) instead of generated ones. */
  readonly ndjson: string | undefined;
}

/** Raw values as parseArgs returns them: strings for values, booleans for switches. */
export type RawArgs = Partial<Record<string, string | boolean>>;

interface Spec {
  flag: string;
  env: string;
  kind: "string" | "boolean";
  default: string;
  help: string;
}

/** One table for flags, variables, defaults and help text, so they cannot drift apart. */
const SPECS: readonly Spec[] = [
  {
    flag: "url",
    env: "PUBLISHER_URL",
    kind: "string",
    default: "http://127.0.0.1:8080",
    help: "aggregator base URL",
  },
  {
    flag: "events",
    env: "PUBLISHER_EVENTS",
    kind: "string",
    default: "20000",
    help: "events to send, duplicates included",
  },
  {
    flag: "dup-rate",
    env: "PUBLISHER_DUP_RATE",
    kind: "string",
    default: "0.3",
    help: "fraction of events that re-send an earlier one (0 ≤ r < 1)",
  },
  {
    flag: "topics",
    env: "PUBLISHER_TOPICS",
    kind: "string",
    default: "4",
    help: "number of topics to spread events over",
  },
  // 500 events ≈ 100 KB per request: far below MAX_BATCH (5000) and MAX_BODY_BYTES (5 MiB), and
  // small enough that a retried request re-sends little.
  { flag: "batch", env: "PUBLISHER_BATCH", kind: "string", default: "500", help: "events per request" },
  {
    flag: "concurrency",
    env: "PUBLISHER_CONCURRENCY",
    kind: "string",
    default: "4",
    help: "requests in flight at once",
  },
  {
    flag: "rate",
    env: "PUBLISHER_RATE",
    kind: "string",
    default: "",
    help: "events per second limit (default: unlimited)",
  },
  {
    flag: "seed",
    env: "PUBLISHER_SEED",
    kind: "string",
    default: "",
    help: "integer seed for deterministic events (default: random)",
  },
  {
    flag: "token",
    env: "PUBLISHER_TOKEN",
    kind: "string",
    default: "",
    help: "bearer token (the aggregator's AUTH_TOKEN)",
  },
  {
    flag: "timeout",
    env: "PUBLISHER_TIMEOUT_MS",
    kind: "string",
    default: "10000",
    help: "per-request timeout in ms",
  },
  {
    flag: "attempts",
    env: "PUBLISHER_ATTEMPTS",
    kind: "string",
    default: "8",
    help: "attempts per request, the first included",
  },
  {
    flag: "deadline",
    env: "PUBLISHER_DEADLINE_S",
    kind: "string",
    default: "300",
    help: "overall deadline in seconds",
  },
  {
    flag: "wait",
    env: "PUBLISHER_WAIT_S",
    kind: "string",
    default: "0",
    help: "seconds to wait for the aggregator to listen (a Job starting with it)",
  },
  {
    flag: "ndjson",
    env: "PUBLISHER_NDJSON",
    kind: "string",
    default: "",
    help: "send your own events: one JSON object per line from FILE, or - for stdin",
  },
  {
    flag: "json",
    env: "PUBLISHER_JSON",
    kind: "boolean",
    default: "false",
    help: "print the summary as JSON on stdout",
  },
  {
    flag: "verify",
    env: "PUBLISHER_VERIFY",
    kind: "boolean",
    default: "false",
    help: "check /stats grew by exactly the sent counts (the token needs the read scope)",
  },
  { flag: "help", env: "", kind: "boolean", default: "false", help: "show this help" },
];

/** Usage text for --help, generated from the same table the parser uses. */
export function helpText(): string {
  const rows = SPECS.map((s) => {
    const flag = s.kind === "string" ? `--${s.flag} <v>` : `--${s.flag}`;
    const dflt = s.default && s.kind === "string" ? ` [${s.default}]` : "";
    const env = s.env ? `  (${s.env})` : "";
    return `  ${flag.padEnd(20)} ${s.help}${dflt}${env}`;
  });
  return [
    "logbus publisher: load and duplicate generator, and an at-least-once client",
    "",
    "usage: npm run publish -- [flags]",
    "   or: deno run --allow-net --allow-env --allow-read publisher/main.ts [flags]  (from the repository root)",
    "",
    "examples:",
    "  npm run publish -- --events 1000 --verify",
    "  npm run publish -- --ndjson events.ndjson --token $TOKEN",
    "  producer | npm run publish -- --ndjson -",
    "",
    ...rows,
    "",
    "With --ndjson, --events, --dup-rate, --topics and --seed do not apply.",
    "",
    "exit codes: 0 all accepted (and verified), 1 delivery or verification failed, 2 bad arguments or input,",
    "            130/143 interrupted by Ctrl-C / SIGTERM (the summary says what was accepted, in flight and failed)",
  ].join("\n");
}

/** Split argv into raw flag values; unknown flags and positionals are usage errors. */
export function parseCliArgs(argv: string[]): RawArgs {
  const options = Object.fromEntries(
    SPECS.map((s) => [s.flag, { type: s.kind, ...(s.flag === "help" ? { short: "h" } : {}) }]),
  );
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return values as RawArgs;
  } catch (e) {
    throw new UsageError([(e as Error).message]);
  }
}

/** Combine raw flags, environment and defaults into validated Options (pure). */
export function toOptions(args: RawArgs, env: Record<string, string | undefined>): Options {
  const problems: string[] = [];
  const pick = (s: Spec): { text: string; from: string } => {
    const flagValue = args[s.flag];
    if (flagValue !== undefined && flagValue !== false) {
      return { text: String(flagValue), from: `--${s.flag}` };
    }
    const envValue = s.env ? env[s.env] : undefined;
    if (envValue !== undefined && envValue !== "") return { text: envValue, from: s.env };
    return { text: s.default, from: `--${s.flag}` };
  };
  const spec = (flag: string) => SPECS.find((s) => s.flag === flag)!;
  const int = (flag: string, min: number, max: number) => readInt(pick(spec(flag)), min, max, problems);
  const bool = (flag: string) => readBool(pick(spec(flag)), problems);

  const url = readUrl(pick(spec("url")), problems);
  const events = int("events", 1, 100_000_000);
  const dupRate = readNumber(
    pick(spec("dup-rate")),
    problems,
    (n) => n >= 0 && n < 1,
    "a number with 0 ≤ r < 1",
  );
  const rateInput = pick(spec("rate"));
  const rate = rateInput.text === ""
    ? undefined
    : readNumber(rateInput, problems, (n) => n > 0, "a positive number of events per second");
  const seedInput = pick(spec("seed"));
  const seed = seedInput.text === "" ? undefined : readInt(seedInput, 0, 0xffff_ffff, problems);
  const token = pick(spec("token")).text || undefined;
  if (token !== undefined && /[\s,]/.test(token)) problems.push("--token must not contain spaces or commas");
  const ndjson = pick(spec("ndjson")).text || undefined;
  const options: Options = {
    url: url ?? new URL("http://invalid"),
    events,
    dupRate,
    topics: int("topics", 1, 10_000),
    batch: int("batch", 1, 100_000),
    concurrency: int("concurrency", 1, 1024),
    rate,
    seed,
    token,
    json: bool("json"),
    verify: bool("verify"),
    help: args.help === true,
    timeoutMs: int("timeout", 1, 3_600_000),
    attempts: int("attempts", 1, 100),
    deadlineMs: readNumber(pick(spec("deadline")), problems, (n) => n > 0, "a positive number of seconds") *
      1000,
    waitMs: readNumber(pick(spec("wait")), problems, (n) => n >= 0, "a number of seconds ≥ 0") * 1000,
    ndjson,
  };
  const generatorFlags = ["events", "dup-rate", "topics", "seed"].filter((f) => args[f] !== undefined);
  if (ndjson !== undefined && generatorFlags.length > 0) {
    problems.push(
      `--ndjson sends the file's events: ${generatorFlags.map((f) => `--${f}`).join(", ")} cannot apply`,
    );
  }
  // A duplicate re-sends an earlier unique event, so at least one must exist.
  if (problems.length === 0 && ndjson === undefined && Math.round(events * dupRate) >= events) {
    problems.push(`--dup-rate ${dupRate} leaves no unique event among ${events}`);
  }
  if (problems.length > 0 && !options.help) throw new UsageError(problems);
  return Object.freeze(options);
}

function readInt(
  input: { text: string; from: string },
  min: number,
  max: number,
  problems: string[],
): number {
  const n = /^\d+$/.test(input.text) ? Number(input.text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    problems.push(`${input.from} must be an integer from ${min} to ${max}, got "${input.text}"`);
    return min;
  }
  return n;
}

function readNumber(
  input: { text: string; from: string },
  problems: string[],
  valid: (n: number) => boolean,
  expected: string,
): number {
  const n = input.text.trim() === "" ? NaN : Number(input.text);
  if (!Number.isFinite(n) || !valid(n)) {
    problems.push(`${input.from} must be ${expected}, got "${input.text}"`);
    return 0;
  }
  return n;
}

function readBool(input: { text: string; from: string }, problems: string[]): boolean {
  const text = input.text.toLowerCase();
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off", ""].includes(text)) return false;
  problems.push(`${input.from} must be true or false, got "${input.text}"`);
  return false;
}

function readUrl(input: { text: string; from: string }, problems: string[]): URL | undefined {
  try {
    const url = new URL(input.text);
    if (url.protocol === "http:" || url.protocol === "https:") return url;
  } catch { /* reported below */ }
  problems.push(`${input.from} must be an http:// or https:// URL, got "${input.text}"`);
  return undefined;
}
