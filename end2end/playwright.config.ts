import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumArgs } from './chromium-args';

// Debian's chromium and its flags: chromium-args.ts. The suite runs inside `unshare -n`
// (see scripts/test.sh): loopback only.

const port = Number(process.env.NOOM_E2E_PORT ?? 3000);
// A second server, over HTTPS with a self-signed certificate it makes for noom.test.
const httpsPort = port + 443;
// A third, that makes every browser relay through its built-in TURN server (TURN on 3578).
const relayPort = port + 444;
// A fresh chat database for every run: rooms start empty, whatever earlier runs said.
const dataDir = process.env.NOOM_E2E_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'noom-e2e-'));
process.env.NOOM_E2E_DATA_DIR = dataDir; // the workers load this file too: same directory

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  workers: 2,
  reporter: [['list']],
  // Chat and home tests run two at a time; the call tests (several browsers encoding video
  // each) run after them, one at a time, so they never starve the others on two cores.
  projects: [
    { name: 'chat', testMatch: /(home|room|history|meeting|i18n)\.spec\.ts/ },
    { name: 'calls', testMatch: /(call|sfu)\.spec\.ts/, workers: 1, dependencies: ['chat'] },
    // The same server reached by a name (noom.test → 127.0.0.1) over plain http: not a
    // secure context, so the browser gives no camera or microphone (as for someone opening
    // http://server:3000 from another machine).
    {
      name: 'insecure',
      testMatch: /insecure\.spec\.ts/,
      dependencies: ['chat'],
      use: {
        baseURL: `http://noom.test:${port}`,
        launchOptions: {
          executablePath: '/usr/bin/chromium',
          args: [...chromiumArgs, '--host-resolver-rules=MAP noom.test 127.0.0.1'],
        },
      },
    },
    // The second server over HTTPS: the browser resolves noom.test to loopback and trusts
    // the server's self-signed certificate (as a person does who checked its fingerprint).
    {
      name: 'https',
      testMatch: /https\.spec\.ts/,
      workers: 1,
      dependencies: ['calls'],
      use: {
        baseURL: `https://noom.test:${httpsPort}`,
        ignoreHTTPSErrors: true,
        launchOptions: {
          executablePath: '/usr/bin/chromium',
          args: [...chromiumArgs, '--host-resolver-rules=MAP noom.test 127.0.0.1'],
        },
      },
    },
    // Drops packets with nft in the suite's namespace: after everything else, alone.
    { name: 'reach', testMatch: /reach\.spec\.ts/, workers: 1, dependencies: ['https', 'insecure'] },
  ],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: { executablePath: '/usr/bin/chromium', args: chromiumArgs },
    trace: 'retain-on-failure',
  },
  // The release server built by `cargo leptos build --release --split`; Playwright waits until
  // /healthz answers before the first test and stops the server at the end.
  webServer: [{
    command: 'target/release/noom',
    cwd: '..',
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
    env: {
      NOOM_ADDR: `127.0.0.1:${port}`,
      NOOM_LOG: 'info',
      // Loopback only: no STUN server to ask (the namespace has no route anyway).
      NOOM_NO_STUN: 'true',
      NOOM_DATA_DIR: dataDir,
      // Six people fit in a test call (the 6-person SFU test; the 7th is refused).
      NOOM_MAX_CALL_SIZE: '6',
      // Serve the brotli files scripts/precompress.mjs made, as scripts/run.sh does.
      NOOM_PRECOMPRESSED: 'true',
      // Where the site is comes from Leptos.toml (the server runs in the project directory).
    },
    stdout: 'ignore',
    stderr: 'pipe',
  }, {
    command: 'target/release/noom',
    cwd: '..',
    url: `https://127.0.0.1:${httpsPort}/healthz`,
    ignoreHTTPSErrors: true,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
    env: {
      NOOM_ADDR: `127.0.0.1:${httpsPort}`,
      NOOM_SELF_SIGNED: 'true',
      NOOM_TLS_NAMES: 'noom.test',
      NOOM_LOG: 'info',
      NOOM_NO_STUN: 'true',
      NOOM_DATA_DIR: join(dataDir, 'https'),
      // Its own SFU port beside the first server's.
      NOOM_RTC_UDP_ADDR: '127.0.0.1:0',
      NOOM_TURN_ADDR: '127.0.0.1:0',
      NOOM_PRECOMPRESSED: 'true',
    },
    stdout: 'ignore',
    stderr: 'pipe',
  }, {
    command: 'target/release/noom',
    cwd: '..',
    url: `http://127.0.0.1:${relayPort}/healthz`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
    env: {
      NOOM_ADDR: `127.0.0.1:${relayPort}`,
      NOOM_ICE_TRANSPORT_POLICY: 'relay',
      NOOM_TURN_ADDR: '127.0.0.1:3578',
      NOOM_LOG: 'info',
      NOOM_NO_STUN: 'true',
      NOOM_DATA_DIR: join(dataDir, 'relay'),
      NOOM_RTC_UDP_ADDR: '127.0.0.1:0',
      NOOM_PRECOMPRESSED: 'true',
    },
    stdout: 'ignore',
    stderr: 'pipe',
  }],
});
