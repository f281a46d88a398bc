import { test, expect, type Page } from '@playwright/test';
import { execSync } from 'node:child_process';
import { expectPlaying, joinCall, person, uniqueRoom } from './helpers';

// Calls from networks that block UDP. These tests drop packets with nftables inside the
// suite's own network namespace (scripts/test.sh runs Playwright under `unshare -n`, as
// root there), so the rules touch nothing outside it. Browsers then connect to the SFU
// over ICE-TCP, or relay through Noom's built-in TURN server.
test.describe.configure({ timeout: 180_000 });

/** Drop what `rules` match on the way in (nft syntax), until `lift` is called. */
function block(rules: string[]) {
  const table = `noomtest${Math.floor(Math.random() * 1e6)}`;
  execSync(`nft add table inet ${table}`);
  execSync(`nft add chain inet ${table} input '{ type filter hook input priority 0; }'`);
  for (const r of rules) execSync(`nft add rule inet ${table} input ${r} drop`);
  return { lift: () => execSync(`nft delete table inet ${table}`) };
}

/** The selected ICE candidate pair of `page`'s connection `peer` (0: the SFU): local and remote. */
async function selectedPair(page: Page, peer: number) {
  return page.evaluate(async (peer) => {
    const pc: RTCPeerConnection = (window as any).noomPeers.get(peer);
    const stats = await pc.getStats();
    let pair: any;
    stats.forEach((r: any) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
    });
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    return { local: `${local.candidateType}/${local.protocol}/${local.relayProtocol ?? ''}`, remote: `${remote.candidateType}/${remote.protocol}` };
  }, peer);
}

/** The other person's peer id on `page` (peer-to-peer calls). */
function otherPeer(page: Page) {
  return page.evaluate(() => [...((window as any).noomPeers?.keys() ?? [])].find((id: number) => id !== 0) as number);
}

test('with UDP to the SFU dropped, a call of three connects to the SFU over ICE-TCP', async ({ browser }) => {
  // The first server's SFU: UDP 3479, ICE-TCP 3479. Its TURN relays over UDP to 3479 as
  // well, so with this rule ICE-TCP is the only way in.
  const blocked = block(['udp dport 3479']);
  try {
    const room = uniqueRoom('tcp');
    const people = [];
    for (const nick of ['Ana', 'Bo', 'Cy']) people.push(await person(browser, `/room/${room}`, nick));
    for (const p of people) await joinCall(p);
    const [ana, bo, cy] = people;
    for (const p of people) {
      await expect.poll(() => p.evaluate(() => [...((window as any).noomPeers?.keys() ?? [])]), { timeout: 30_000 }).toEqual([0]);
    }
    for (const [p, others] of [[ana, ['Bo', 'Cy']], [bo, ['Ana', 'Cy']], [cy, ['Ana', 'Bo']]] as const) {
      for (const o of others) await expectPlaying(p, o, 45_000);
    }
    for (const p of people) {
      const pair = await selectedPair(p, 0);
      expect(pair?.local).toMatch(/\/tcp\//);
      expect(pair?.remote).toBe('host/tcp');
    }
    for (const p of people) await p.context().close();
  } finally {
    blocked.lift();
  }
});

test.describe('on a server with --ice-transport-policy relay', () => {
  test.use({ baseURL: `http://127.0.0.1:${Number(process.env.NOOM_E2E_PORT ?? 3000) + 444}` });

  test('a peer-to-peer call relays through the built-in TURN server and shows no one\'s address', async ({ browser }) => {
    const room = uniqueRoom('relay');
    const ana = await person(browser, `/room/${room}`, 'Ana');
    const bo = await person(browser, `/room/${room}`, 'Bo');
    await joinCall(ana);
    await joinCall(bo);
    await expectPlaying(ana, 'Bo', 30_000);
    await expectPlaying(bo, 'Ana', 30_000);
    for (const p of [ana, bo]) {
      const pair = await selectedPair(p, await otherPeer(p));
      expect(pair?.local).toMatch(/^relay\//);
      expect(pair?.remote).toMatch(/^relay\//);
    }
    for (const p of [ana, bo]) await p.context().close();
  });

  test('with UDP to the TURN server dropped, the call relays over TURN-TCP', async ({ browser }) => {
    const blocked = block(['udp dport 3578']);
    try {
      const room = uniqueRoom('relay-tcp');
      const ana = await person(browser, `/room/${room}`, 'Ana');
      const bo = await person(browser, `/room/${room}`, 'Bo');
      await joinCall(ana);
      await joinCall(bo);
      await expectPlaying(ana, 'Bo', 45_000);
      await expectPlaying(bo, 'Ana', 45_000);
      for (const p of [ana, bo]) {
        const pair = await selectedPair(p, await otherPeer(p));
        expect(pair?.local).toBe('relay/udp/tcp');
      }
      for (const p of [ana, bo]) await p.context().close();
    } finally {
      blocked.lift();
    }
  });
});
