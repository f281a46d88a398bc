import base from './playwright.config';
import { defineConfig } from '@playwright/test';

// Benchmarks (not part of the test suite): `scripts/bench-call.sh`. NOOM_P2P_MAX=0 runs the
// same benchmarks with every call through the SFU.
export default defineConfig({
  ...base,
  projects: undefined,
  testDir: './bench',
  workers: 1,
  timeout: 600_000,
  webServer: {
    ...(base.webServer as any),
    reuseExistingServer: false,
    env: { ...(base.webServer as any).env, NOOM_P2P_MAX: process.env.NOOM_P2P_MAX ?? '2' },
  },
});
