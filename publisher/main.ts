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
  if (summary.interrupted) error(`interrupted: ${interruptMessage(summary)}`, interrupt.exitCode());
  if (!summary.ok) error(failureMessage(summary), ExitCode.Failed);
}

/**
 * The first Ctrl-C (or SIGTERM from a Job being deleted) stops sending and aborts what is in
 * flight, so the summary is printed within moments; a second one exits at once.
 */
function onInterrupt(): { signal: AbortSignal; exitCode(): ExitCode; dispose(): void } {
  const controller = new AbortController();
  // 128 + the signal's number, as a shell reports it: 130 for Ctrl-C, 143 for SIGTERM.
  let code: ExitCode = ExitCode.Interrupted;
  const handlers = {
    SIGINT: () => interrupted(ExitCode.Interrupted),
    SIGTERM: () => interrupted(ExitCode.Terminated),
  };
  const interrupted = (signalCode: ExitCode) => {
    if (controller.signal.aborted) Deno.exit(signalCode);
    code = signalCode;
    write("\ninterrupted: stopping, summary follows (interrupt again to quit at once)\n");
    controller.abort(new DOMException("interrupted", "AbortError"));
  };
  for (const [name, handler] of Object.entries(handlers)) {
    Deno.addSignalListener(name as Deno.Signal, handler);
  }
  return {
    signal: controller.signal,
    exitCode: () => code,
    dispose: () => {
      for (const [name, handler] of Object.entries(handlers)) {
        Deno.removeSignalListener(name as Deno.Signal, handler);
      }
    },
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
