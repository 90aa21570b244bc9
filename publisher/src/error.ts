/**
 * The publisher's only way out with a non-zero status. Separate codes let a Job or CI step tell a
 * typo in its arguments from an aggregator that lost events. [deployctl `src/error.ts`]
 */

/** Process exit codes; documented in docs/PUBLISHER.md. */
export const ExitCode = {
  /** Every event accepted (and verified when --verify was given). */
  Ok: 0,
  /** Some events could not be delivered after retries, or --verify found a mismatch. */
  Failed: 1,
  /** Bad flags, environment variables or --ndjson input; nothing was sent. */
  Usage: 2,
  /** Ctrl-C: the summary says what was accepted, in flight and never sent (128 + SIGINT). */
  Interrupted: 130,
  /** SIGTERM (a Job being deleted, `docker stop`): as Interrupted, with the shell's code for it (128 + SIGTERM). */
  Terminated: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Thrown by the pure option parser; main() turns it into exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

/** Print `error: <message>` to stderr and exit with `code`. */
export function error(message: string, code: ExitCode = ExitCode.Failed): never {
  console.error(`error: ${message}`);
  Deno.exit(code);
}
