import base from './playwright.config';
import { defineConfig } from '@playwright/test';

// The suite's first server (plain HTTP on loopback).
const main = (base.webServer as any[])[0];

// Benchmarks (not part of the test suite): `scripts/bench-call.sh`. NOOM_P2P_MAX=0 runs the
// same benchmarks with every call through the SFU; NOOM_ICE_TRANSPORT_POLICY=relay relays
// every call through the built-in TURN server.
export default defineConfig({
  ...base,
  projects: undefined,
  testDir: './bench',
  workers: 1,
  timeout: 600_000,
  webServer: {
    ...main,
    reuseExistingServer: false,
    env: {
      ...main.env,
      NOOM_P2P_MAX: process.env.NOOM_P2P_MAX ?? '2',
      NOOM_ICE_TRANSPORT_POLICY: process.env.NOOM_ICE_TRANSPORT_POLICY ?? 'all',
    },
  },
});
