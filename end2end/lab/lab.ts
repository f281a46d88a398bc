import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from '@playwright/test';

// The network lab's pieces the tests use: the server address, link limits at run time, an
// init script that records every RTCPeerConnection, and getStats snapshots mapped to people.

/** Noom's address in srv, as every browser reaches it (over its limited link). */
export const SERVER = '10.77.0.1:3000';
export const BASE_URL = `http://${SERVER}`;
export const LAB_PEOPLE = Number(process.env.LAB_PEOPLE ?? 4);

export function netlab(...args: string[]) {
  return execFileSync(join(__dirname, 'netlab.sh'), args, { encoding: 'utf8' });
}

/**
 * Limit browser `i`'s link (1-based, as b1..bN) in kbit/s, downlink (server to browser)
 * and/or uplink; `0` lifts that direction's limit. Applies at once, also mid-call.
 */
export function limit(i: number, { down, up }: { down?: number; up?: number }) {
  if (down !== undefined) netlab('limit', `b${i}`, 'down', down > 0 ? String(down) : 'off');
  if (up !== undefined) netlab('limit', `b${i}`, 'up', up > 0 ? String(up) : 'off');
}

/** The WebSocket endpoints of the lab's browser servers, b1 first (set by lab/setup.ts). */
export function browserEndpoints(): string[] {
  return JSON.parse(process.env.LAB_WS ?? '[]');
}

/** Init script: every RTCPeerConnection the page makes lands in `window.labPcs`. */
export function recordPeerConnections() {
  const w = window as any;
  const Original = w.RTCPeerConnection;
  w.labPcs = [];
  class Recorded extends Original {
    constructor(...args: any[]) {
      super(...args);
      w.labPcs.push(this);
    }
  }
  w.RTCPeerConnection = Recorded;
}

/** Init script: the camera at WIDTHxHEIGHT@FPS whatever the app asks (as bench/six-people does). */
export function constrainCamera([width, height, frameRate]: number[]) {
  const md = navigator.mediaDevices;
  const gum = md.getUserMedia.bind(md);
  md.getUserMedia = (c?: MediaStreamConstraints) =>
    gum(c && c.video ? { ...c, video: { ...(typeof c.video === 'object' ? c.video : {}), width, height, frameRate } } : c);
}

export type Snapshot = {
  t: number;
  /** inbound-rtp / outbound-rtp / transport (with its selected pair's figures) stats, keyed `pc:id`. */
  stats: Record<string, any>;
  /** remote track id -> whose tile shows it (nickname), and the tile's height in px. */
  tracks: Record<string, { nick: string; tileHeight: number }>;
};

/** getStats of every live peer connection in the page, and which tile shows which track. */
export function snapshot(page: Page): Promise<Snapshot> {
  return page.evaluate(async () => {
    const keep = [
      'kind', 'rid', 'trackIdentifier', 'ssrc', 'bytesReceived', 'packetsReceived', 'packetsLost', 'framesDecoded',
      'framesDropped', 'frameHeight', 'frameWidth', 'framesPerSecond', 'freezeCount', 'totalFreezesDuration',
      'pauseCount', 'totalPausesDuration', 'concealedSamples', 'silentConcealedSamples', 'totalSamplesReceived',
      'jitter', 'nackCount', 'pliCount', 'jitterBufferDelay', 'jitterBufferEmittedCount', 'bytesSent',
      'retransmittedBytesSent', 'framesEncoded', 'framesSent', 'qualityLimitationReason', 'targetBitrate',
      'type',
    ];
    const stats: Record<string, any> = {};
    const pcs: RTCPeerConnection[] = (window as any).labPcs ?? [];
    for (let k = 0; k < pcs.length; k++) {
      if (pcs[k].connectionState === 'closed') continue;
      const report = await pcs[k].getStats();
      report.forEach((s: any) => {
        const o: any = { pc: k };
        if (s.type === 'transport') {
          // The link as a whole: bytes from the transport, RTT, the browser's send estimate
          // and which of its addresses carries the media (the limited eth0, never ctl0)
          // from the candidate pair it has selected.
          const pair = report.get(s.selectedCandidatePairId);
          Object.assign(o, {
            type: 'transport', bytesSent: s.bytesSent, bytesReceived: s.bytesReceived, state: s.dtlsState,
            currentRoundTripTime: pair?.currentRoundTripTime, availableOutgoingBitrate: pair?.availableOutgoingBitrate,
            localAddress: pair && report.get(pair.localCandidateId)?.address,
          });
        } else if (s.type === 'inbound-rtp' || s.type === 'outbound-rtp') {
          for (const f of keep) if (s[f] !== undefined) o[f] = s[f];
        } else {
          return;
        }
        stats[`${k}:${s.id}`] = o;
      });
    }
    const tracks: Record<string, { nick: string; tileHeight: number }> = {};
    for (const fig of Array.from(document.querySelectorAll('figure[aria-label]'))) {
      const video = fig.querySelector('video');
      const stream = video?.srcObject as MediaStream | null;
      const nick = (fig.getAttribute('aria-label') ?? '').replace(/'s video$/, '');
      for (const t of stream?.getTracks?.() ?? []) tracks[t.id] = { nick, tileHeight: video!.clientHeight };
    }
    return { t: performance.now(), stats, tracks };
  });
}

/**
 * Start timing the frames each remote tile shows (requestVideoFrameCallback): what a person
 * sees, counted inside the window (getStats' freezes count only when they end).
 */
export function watchFrames(page: Page) {
  return page.evaluate(() => {
    const w = window as any;
    const watch = (w.labFrames = { start: performance.now(), tiles: {} as Record<string, number[]>, heights: {} as Record<string, number[]> });
    for (const fig of Array.from(document.querySelectorAll('figure[aria-label]'))) {
      const video = fig.querySelector('video');
      if (!video || fig.classList.contains('me')) continue;
      const nick = (fig.getAttribute('aria-label') ?? '').replace(/'s video$/, '');
      const times: number[] = (watch.tiles[nick] = []);
      const heights: number[] = (watch.heights[nick] = []);
      const frame = (now: number, meta: { height: number }) => {
        if (w.labFrames !== watch) return;
        times.push(now);
        heights.push(meta.height);
        video.requestVideoFrameCallback(frame);
      };
      video.requestVideoFrameCallback(frame);
    }
  });
}

export type Shown = {
  frames: number; fps: number; stalledSecs: number; longestGapSecs: number;
  /** mean height of the frames shown, and how many were shown at each height */
  meanHeight: number; heights: Record<string, number>;
};

/** Since `watchFrames`: per remote person, frames shown, their heights, and the time spent in gaps over `gapMs`. */
export function shownFrames(page: Page, gapMs = 500): Promise<Record<string, Shown>> {
  return page.evaluate((gapMs) => {
    const w = window as any;
    const end = performance.now();
    const out: Record<string, any> = {};
    for (const [nick, times] of Object.entries(w.labFrames.tiles as Record<string, number[]>)) {
      const points = [w.labFrames.start, ...times, end];
      let stalled = 0, longest = 0;
      for (let k = 1; k < points.length; k++) {
        const gap = points[k] - points[k - 1];
        longest = Math.max(longest, gap);
        if (gap > gapMs) stalled += gap;
      }
      const secs = (end - w.labFrames.start) / 1000;
      const hs: number[] = w.labFrames.heights[nick];
      const heights: Record<string, number> = {};
      for (const h of hs) heights[h] = (heights[h] ?? 0) + 1;
      const meanHeight = hs.length ? hs.reduce((a, b) => a + b, 0) / hs.length : 0;
      out[nick] = { frames: times.length, fps: times.length / secs, stalledSecs: stalled / 1000, longestGapSecs: longest / 1000, meanHeight, heights };
    }
    w.labFrames = undefined;
    return out;
  }, gapMs);
}
