import { defineConfig } from '@playwright/test';

// The network lab (lab/README.md): scripts/test.sh runs its checks through lab/run.sh;
// scripts/bench-network.sh its measurements. lab/setup.ts makes the
// namespaces, starts Noom in srv and one browser per browser namespace; tests connect to
// those browsers. Run it through lab/run.sh (inside a network namespace of its own).
export default defineConfig({
  testDir: './lab',
  workers: 1,
  timeout: 600_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  globalSetup: './lab/setup.ts',
  use: { trace: 'off' },
});
