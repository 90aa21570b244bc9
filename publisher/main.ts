/**
 * logbus publisher: load and duplicate generator, and an at-least-once client for the aggregator.
 * Composition root: argv + env → Options → (--ndjson input) → publish → summary → exit code.
 * See docs/PUBLISHER.md.
 */
import { helpText, parseCliArgs, toOptions } from "./src/args.ts";
import { error, ExitCode, UsageError } from "./src/error.ts";
import { EventFileError, readEventFile } from "./src/ndjson.ts";
import { publish } from "./src/publish.ts";
import { formatSummary, type Summary } from "./src/report.ts";

const encoder = new TextEncoder();
const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));

/** Run the CLI; returns normally only on success (exit code 0). */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  let options;
  try {
    options = toOptions(parseCliArgs(argv), env);
  } catch (e) {
    if (e instanceof UsageError) error(`${e.message}\n(run with --help for usage)`, ExitCode.Usage);
    throw e;
  }
  if (options.help) {
    console.log(helpText());
    return;
  }
  let input;
  try {
    input = options.ndjson === undefined
      ? undefined
      : await readEventFile(options.ndjson, Deno.stdin.readable);
  } catch (e) {
    if (e instanceof EventFileError) error(`${e.message}\nnothing was sent`, ExitCode.Usage);
    throw e;
  }
  const interrupt = onInterrupt();
  let summary: Summary;
  try {
    summary = await publish(
      options,
      { tty: Deno.stderr.isTerminal(), write, interrupt: interrupt.signal },
      input,
    );
  } finally {
    interrupt.dispose();
  }
  console.log(options.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
  if (summary.interrupted) error(`interrupted: ${interruptMessage(summary)}`, ExitCode.Interrupted);
  if (!summary.ok) error(failureMessage(summary), ExitCode.Failed);
}

/**
 * The first Ctrl-C (or SIGTERM from a Job being deleted) stops sending and aborts what is in
 * flight, so the summary is printed within moments; a second one exits at once.
 */
function onInterrupt(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handler = () => {
    if (controller.signal.aborted) Deno.exit(ExitCode.Interrupted);
    write("\ninterrupted: stopping, summary follows (interrupt again to quit at once)\n");
    controller.abort(new DOMException("interrupted", "AbortError"));
  };
  const signals = ["SIGINT", "SIGTERM"] as const;
  for (const name of signals) Deno.addSignalListener(name, handler);
  return {
    signal: controller.signal,
    dispose: () => signals.forEach((name) => Deno.removeSignalListener(name, handler)),
  };
}

function interruptMessage(s: Summary): string {
  return `${s.accepted} of ${s.events} events accepted, ${s.in_flight} in flight (unknown whether stored), ` +
    `${s.failed} failed, ${s.not_sent} not sent`;
}

function failureMessage(s: Summary): string {
  const reasons: string[] = [];
  const notSent = s.rejections.find((r) => r.why === "not sent" && r.batches === 0);
  if (notSent) reasons.push(notSent.reason);
  if (s.accepted < s.events) reasons.push(`${s.events - s.accepted} of ${s.events} events were not accepted`);
  if (s.verify_error) reasons.push(`verification failed: ${s.verify_error}`);
  if (s.verify && !s.verify.ok) reasons.push(`verification failed: ${s.verify.problems.join("; ")}`);
  return reasons.join("; ");
}

if (import.meta.main) await main(Deno.args, Deno.env.toObject());
