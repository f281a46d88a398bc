import base from './playwright.config';
import { defineConfig } from '@playwright/test';

// Benchmarks (not part of the test suite): `scripts/bench-call.sh`.
export default defineConfig({
  ...base,
  testDir: './bench',
  workers: 1,
  timeout: 600_000,
});
