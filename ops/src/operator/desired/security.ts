/** The chart's hardening (values.yaml podSecurityContext / securityContext), for any uid. */

/** Pod level: non-root with the uid as user, group and fsGroup, RuntimeDefault seccomp. */
export const podSecurity = (uid: number, extra: Record<string, unknown> = {}) => ({
  fsGroup: uid,
  ...extra,
  runAsGroup: uid,
  runAsNonRoot: true,
  runAsUser: uid,
  seccompProfile: { type: 'RuntimeDefault' },
});

/** Container level: no privilege escalation, no capabilities, read-only root filesystem. */
export const hardened = (uid: number) => ({
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  readOnlyRootFilesystem: true,
  runAsGroup: uid,
  runAsNonRoot: true,
  runAsUser: uid,
});
