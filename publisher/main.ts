/**
 * logbus publisher: load and duplicate generator, and an at-least-once client for the aggregator.
 * Composition root: argv + env → Options → publish → summary → exit code. See docs/PUBLISHER.md.
 */
import { helpText, parseCliArgs, toOptions } from "./src/args.ts";
import { error, ExitCode, UsageError } from "./src/error.ts";
import { publish } from "./src/publish.ts";
import { formatSummary, type Summary } from "./src/report.ts";

const encoder = new TextEncoder();

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
  const summary = await publish(options, {
    tty: Deno.stderr.isTerminal(),
    write: (text) => Deno.stderr.writeSync(encoder.encode(text)),
  });
  console.log(options.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
  if (!summary.ok) error(failureMessage(summary), ExitCode.Failed);
}

function failureMessage(s: Summary): string {
  const reasons: string[] = [];
  if (s.accepted < s.events) reasons.push(`${s.events - s.accepted} of ${s.events} events were not accepted`);
  if (s.verify_error) reasons.push(`verification failed: ${s.verify_error}`);
  if (s.verify && !s.verify.ok) reasons.push(`verification failed: ${s.verify.problems.join("; ")}`);
  return reasons.join("; ");
}

if (import.meta.main) await main(Deno.args, Deno.env.toObject());
