import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { chromiumArgs } from '../chromium-args';
import { LAB_PEOPLE, SERVER, netlab } from './lab';

// The lab's global set-up (playwright.lab.config.ts): the namespaces (netlab.sh up), Noom in
// srv, one browser server per browser namespace. Their control endpoints go to the tests in
// LAB_WS (JSON). The teardown it returns stops them all and deletes the namespaces.
// Which server: NOOM_LAB_BIN (default target/release/noom), its site NOOM_LAB_SITE (default
// target/site) and Leptos.toml NOOM_LAB_LEPTOS_TOML (default: beside the binary if there is
// one, else the repository's).
const repo = resolve(__dirname, '../..');

function serverFiles() {
  const bin = resolve(process.env.NOOM_LAB_BIN ?? join(repo, 'target/release/noom'));
  const site = resolve(process.env.NOOM_LAB_SITE ?? join(repo, 'target/site'));
  const beside = join(dirname(bin), 'Leptos.toml');
  const toml = resolve(process.env.NOOM_LAB_LEPTOS_TOML ?? (existsSync(beside) ? beside : join(repo, 'Leptos.toml')));
  for (const f of [bin, site, toml]) if (!existsSync(f)) throw new Error(`network lab: ${f} does not exist`);
  return { bin, site, toml };
}

async function waitHealthy(deadline: number) {
  while (Date.now() < deadline) {
    const r = spawnSync('ip', ['netns', 'exec', 'srv', 'curl', '-sf', '-o', '/dev/null', `http://${SERVER}/healthz`]);
    if (r.status === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('network lab: Noom did not answer /healthz in srv');
}

function browserServer(i: number, logDir: string): Promise<{ proc: ChildProcess; ws: string }> {
  const host = `10.99.${i}.2`;
  const args = [...chromiumArgs, `--unsafely-treat-insecure-origin-as-secure=http://${SERVER}`];
  const proc = spawn('ip', ['netns', 'exec', `b${i}`, 'node', join(__dirname, 'launch.mjs')], {
    env: { ...process.env, LAB_HOST: host, LAB_PORT: '9300', LAB_ARGS: JSON.stringify(args) },
    stdio: ['ignore', 'pipe', openSync(join(logDir, `browser-b${i}.log`), 'w')],
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`network lab: browser b${i} did not start`)), 60_000);
    proc.on('exit', (code) => reject(new Error(`network lab: browser b${i} exited (${code})`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith('WS ')) {
        clearTimeout(timer);
        resolvePromise({ proc, ws: line.slice(3).trim() });
      }
    });
  });
}

async function stop(proc: ChildProcess | undefined, ms = 5000) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), ms);
  await gone;
  clearTimeout(t);
}

export default async function globalSetup() {
  const { bin, site, toml } = serverFiles();
  const logDir = resolve(__dirname, '../test-results/lab');
  mkdirSync(logDir, { recursive: true });
  netlab('down');
  netlab('up', String(LAB_PEOPLE));
  const dataDir = mkdtempSync(join(tmpdir(), 'noom-lab-'));
  const server = spawn('ip', ['netns', 'exec', 'srv', bin], {
    cwd: dataDir,
    env: {
      ...process.env,
      NOOM_ADDR: SERVER,
      // Plain HTTP beyond loopback; the browsers treat this origin as secure (a flag).
      NOOM_PLAIN_HTTP: 'true',
      NOOM_LOG: process.env.NOOM_LOG ?? 'info',
      NOOM_DATA_DIR: dataDir,
      NOOM_LEPTOS_TOML: toml,
      LEPTOS_SITE_ROOT: site,
      // Serve the brotli files when the site has them (scripts/precompress.mjs).
      NOOM_PRECOMPRESSED: String(existsSync(join(site, 'pkg')) && readdirSync(join(site, 'pkg')).some((f) => f.endsWith('.br'))),
      // Every call through the SFU, on the lab address (the host candidate it announces).
      NOOM_P2P_MAX: '0',
      NOOM_RTC_UDP_ADDR: `${SERVER.split(':')[0]}:3479`,
      NOOM_NO_STUN: 'true',
      NOOM_NO_TURN: 'true',
    },
    stdio: ['ignore', openSync(join(logDir, 'noom.log'), 'w'), 'inherit'],
  });
  const procs: ChildProcess[] = [];
  const teardown = async () => {
    await Promise.all(procs.map((p) => stop(p)));
    await stop(server);
    netlab('down');
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitHealthy(Date.now() + 30_000);
    const browsers = await Promise.all(
      Array.from({ length: LAB_PEOPLE }, (_, k) => browserServer(k + 1, logDir).then((b) => (procs.push(b.proc), b))),
    );
    process.env.LAB_WS = JSON.stringify(browsers.map((b) => b.ws));
    process.env.LAB_SERVER_PID = String(server.pid);
    process.env.LAB_SITE = site;
  } catch (e) {
    await teardown();
    throw e;
  }
  return teardown;
}
