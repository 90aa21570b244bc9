import { resolve } from 'node:path';

/** Repository root (ops/test/support -> ../../..). */
export const REPO = resolve(import.meta.dir, '../../..');
