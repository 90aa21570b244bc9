/** The ops tool's one failure path: a message for humans and an exit code for scripts. */

export const ExitCode = {
  /** A Job failed, or /stats broke the invariant. */
  Failed: 1,
  /** Bad command line. */
  Usage: 2,
  /** No cluster reachable, or the API refused a request. */
  Cluster: 3,
} as const;

export class OpsError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Failed,
  ) {
    super(message);
    this.name = 'OpsError';
  }
}
