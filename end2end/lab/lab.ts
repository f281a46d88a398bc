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
  /** inbound-rtp / outbound-rtp / nominated candidate-pair stats, keyed `pc:id`. */
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
      'availableOutgoingBitrate', 'currentRoundTripTime', 'state', 'nominated', 'type',
    ];
    const stats: Record<string, any> = {};
    const pcs: RTCPeerConnection[] = (window as any).labPcs ?? [];
    for (let k = 0; k < pcs.length; k++) {
      if (pcs[k].connectionState === 'closed') continue;
      const report = await pcs[k].getStats();
      report.forEach((s: any) => {
        const wanted = s.type === 'inbound-rtp' || s.type === 'outbound-rtp' || (s.type === 'candidate-pair' && s.nominated);
        if (!wanted) return;
        const o: any = { pc: k };
        for (const f of keep) if (s[f] !== undefined) o[f] = s[f];
        // Which of the browser's addresses carries the media (the limited eth0, never ctl0).
        if (s.type === 'candidate-pair') o.localAddress = report.get(s.localCandidateId)?.address;
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
