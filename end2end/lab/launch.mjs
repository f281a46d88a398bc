// One lab browser: run inside its namespace (`ip netns exec bI node lab/launch.mjs`) by
// lab/setup.ts. Starts Debian's chromium as a Playwright browser server listening on the
// namespace's control address (LAB_HOST:LAB_PORT, the unlimited control link), prints
// `WS <endpoint>` and runs until SIGTERM/SIGINT, then closes the browser.
import { chromium } from 'playwright-core';

const args = JSON.parse(process.env.LAB_ARGS ?? '[]');
const server = await chromium.launchServer({
  executablePath: process.env.LAB_CHROMIUM ?? '/usr/bin/chromium',
  args,
  host: process.env.LAB_HOST,
  port: Number(process.env.LAB_PORT ?? 9300),
  wsPath: '/lab',
  handleSIGINT: false,
  handleSIGTERM: false,
});
console.log(`WS ${server.wsEndpoint()}`);
let closing = false;
const close = async () => {
  if (closing) return;
  closing = true;
  await server.close().catch(() => {});
  process.exit(0);
};
process.on('SIGTERM', close);
process.on('SIGINT', close);
