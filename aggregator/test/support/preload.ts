/** Loaded before every test file (bunfig.toml): stops the shared PostgreSQL after the run. */
import { afterAll } from 'bun:test';
import { stopSharedServer } from './postgres';

afterAll(async () => {
  await stopSharedServer();
});
