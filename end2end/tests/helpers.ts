import { expect, type Browser, type Page, type WebSocketRoute } from '@playwright/test';

/** Open a page and wait until it is hydrated and its socket is up (clicks before are lost). */
export async function open(page: Page, path: string) {
  await page.goto(path);
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
  await expect(page.locator('.conn-status[data-status="online"]')).toBeVisible();
}

/**
 * A person in a fresh browser context (own localStorage). With a nickname, they pick it on
 * the home page first, then load `path` fresh (a deep link), as someone following a shared
 * link would after choosing a name. `prepare` runs before the first page load.
 */
export async function person(
  browser: Browser,
  path = '/',
  nickname?: string,
  prepare?: (page: Page) => Promise<unknown>,
  contextOptions: Parameters<Browser['newContext']>[0] = {},
) {
  const context = await browser.newContext(contextOptions);
  // Every page records what the Content-Security-Policy blocked (see `cspViolations`).
  await context.addInitScript(() => {
    (window as any).noomCspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      (window as any).noomCspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'}`),
    );
  });
  const page = await context.newPage();
  if (prepare) {
    await prepare(page);
  }
  if (nickname) {
    await open(page, '/');
    await setNickname(page, nickname);
  }
  await open(page, path);
  return page;
}

/** What the page's Content-Security-Policy blocked so far (for pages made by `person`). */
export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as any).noomCspViolations ?? ['not recorded']);
}

/**
 * Route the page's WebSocket through the test so the test can cut it like a network drop
 * (`cut`) and let reconnects through again (`restore`). Set up before the page loads.
 */
export async function cuttableSocket(page: Page) {
  let blocked = false;
  let live: WebSocketRoute | undefined;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (blocked) return ws.close();
    live = ws;
    ws.connectToServer();
  });
  return {
    async cut() {
      blocked = true;
      await live?.close();
    },
    restore() {
      blocked = false;
    },
  };
}

export async function setNickname(page: Page, nickname: string) {
  await page.getByLabel('Nickname').fill(nickname);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Saved', { exact: true })).toBeVisible();
}

/** A room name no other test uses, so tests can run in parallel against one server. */
export function uniqueRoom(prefix: string) {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export function chatLog(page: Page) {
  return page.getByRole('list', { name: 'Chat' });
}

export function members(page: Page) {
  return page.getByRole('list', { name: 'People' });
}

export async function say(page: Page, text: string) {
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

// ---- Calls ----

export function tile(page: Page, nick: string) {
  return page.getByRole('figure', { name: `${nick}'s video` });
}

export async function joinCall(page: Page) {
  // The preview is up (camera opened) before joining.
  await expect.poll(() => page.getByLabel('Your camera preview').evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  await page.getByRole('button', { name: 'Join call' }).click();
  await expect(page.getByRole('button', { name: 'Leave call' })).toBeVisible();
}

/**
 * The tile's video has real frames and they keep coming. `timeout` bounds a hang (several
 * browsers encoding video on two cores can take a while), it is not a timing goal.
 */
export async function expectPlaying(page: Page, nick: string, timeout = 15_000) {
  const video = tile(page, nick).locator('video');
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout }).toBeGreaterThan(0);
  const t0 = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout }).toBeGreaterThan(t0);
}

// ---- Chat history ----

/**
 * Say each of `texts` in `room`, in order, from raw WebSockets opened inside `page` (a bot,
 * not a person: fast, and 30 messages per socket stay within the per-connection rate
 * allowance). Resolves once every message is acknowledged, i.e. stored.
 */
export async function flood(page: Page, room: string, texts: string[]) {
  await page.evaluate(async ({ room, texts }) => {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    for (let i = 0; i < texts.length; i += 30) {
      const chunk = texts.slice(i, i + 30);
      const ws = new WebSocket(url);
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
      await new Promise<void>((resolve, reject) => {
        let acked = 0;
        ws.onmessage = (e) => {
          const m = JSON.parse(e.data);
          if (m.type === 'joined') {
            chunk.forEach((text, k) =>
              ws.send(JSON.stringify({ type: 'chat', req_id: k + 1, text, client_msg_id: `${Date.now()}-${Math.random()}-${i + k}` })));
          } else if (m.type === 'ack' && m.message && ++acked === chunk.length) {
            resolve();
          } else if (m.type === 'error') {
            reject(new Error(m.message));
          }
        };
        ws.send(JSON.stringify({ type: 'set_nick', nickname: 'Bot' }));
        ws.send(JSON.stringify({ type: 'join', room }));
      });
      ws.close();
    }
  }, { room, texts });
}

/** The texts of the chat messages shown, top to bottom. */
export async function shownTexts(page: Page) {
  return chatLog(page).locator('li.msg .text').allTextContents();
}
