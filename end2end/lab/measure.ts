import type { Shown, Snapshot } from './lab';

// From two getStats snapshots of one person (before and after SECS seconds) to figures:
// per remote stream (audio concealment, video fps, height, freezes, kbit/s) and the
// person's own link (sent and received kbit/s, RTT, the browser's send estimate).

export type Inbound = {
  from: string; kind: 'audio' | 'video'; track: string; new: boolean;
  kbps: number; packetsLost: number; packetsReceived: number;
  // audio
  concealedPct?: number;
  // video
  fps?: number; frameHeight?: number; frozenSecs?: number;
  /** from the tile's shown frames (requestVideoFrameCallback), inside the window */
  shownFps?: number; stalledSecs?: number; longestGapSecs?: number; shownHeight?: number; shownHeights?: Record<string, number>; freezes?: number; pausedSecs?: number; tileHeight?: number;
  nacks?: number; plis?: number;
};
export type PersonFigures = {
  nick: string; limited: string; secs: number;
  recvKbps: number; sentKbps: number; rttMs?: number; availableOutgoingKbps?: number;
  /** the browser's address of the candidate pairs in use (10.77.0.x: the limited link) */
  mediaAddresses: string[];
  /** what this browser sends, per video layer: rid -> height, fps, kbit/s, quality limitation */
  sending: { rid: string; height?: number; fps: number; kbps: number; limitation?: string }[];
  inbound: Inbound[];
};

const d = (a: any, b: any, f: string) => (b?.[f] ?? 0) - (a?.[f] ?? 0);

export function figures(nick: string, limited: string, s0: Snapshot, s1: Snapshot, shown: Record<string, Shown> = {}): PersonFigures {
  const secs = (s1.t - s0.t) / 1000;
  const kbps = (bytes: number) => (bytes * 8) / secs / 1000;
  const inbound: Inbound[] = [];
  const sending: PersonFigures['sending'] = [];
  let recv = 0, sent = 0, rtt: number | undefined, avail: number | undefined;
  const mediaAddresses = new Set<string>();
  for (const [key, b] of Object.entries(s1.stats)) {
    const a = s0.stats[key];
    if (b.type === 'transport') {
      if (b.localAddress) mediaAddresses.add(b.localAddress);
      recv += d(a, b, 'bytesReceived');
      sent += d(a, b, 'bytesSent');
      if (b.currentRoundTripTime !== undefined) rtt = Math.max(rtt ?? 0, b.currentRoundTripTime * 1000);
      if (b.availableOutgoingBitrate !== undefined) avail = (avail ?? 0) + b.availableOutgoingBitrate / 1000;
    } else if (b.type === 'outbound-rtp' && b.kind === 'video') {
      sending.push({
        rid: b.rid ?? '-', height: b.frameHeight, fps: d(a, b, 'framesSent') / secs, kbps: kbps(d(a, b, 'bytesSent')),
        limitation: b.qualityLimitationReason,
      });
    } else if (b.type === 'inbound-rtp') {
      const tile = s1.tracks[b.trackIdentifier];
      const one: Inbound = {
        from: tile?.nick ?? '?', kind: b.kind, track: b.trackIdentifier, new: !a,
        kbps: kbps(d(a, b, 'bytesReceived')), packetsLost: d(a, b, 'packetsLost'), packetsReceived: d(a, b, 'packetsReceived'),
      };
      if (b.kind === 'audio') {
        const samples = d(a, b, 'totalSamplesReceived');
        one.concealedPct = samples > 0 ? (100 * d(a, b, 'concealedSamples')) / samples : 100;
      } else {
        Object.assign(one, {
          fps: d(a, b, 'framesDecoded') / secs, frameHeight: b.frameHeight ?? 0, frozenSecs: d(a, b, 'totalFreezesDuration'),
          freezes: d(a, b, 'freezeCount'), pausedSecs: d(a, b, 'totalPausesDuration'), tileHeight: tile?.tileHeight,
          nacks: d(a, b, 'nackCount'), plis: d(a, b, 'pliCount'),
        });
        const seen = tile && shown[tile.nick];
        if (seen) {
          Object.assign(one, {
            shownFps: seen.fps, stalledSecs: seen.stalledSecs, longestGapSecs: seen.longestGapSecs,
            shownHeight: seen.meanHeight, shownHeights: seen.heights,
          });
        }
      }
      inbound.push(one);
    }
  }
  sending.sort((x, y) => (x.height ?? 0) - (y.height ?? 0));
  inbound.sort((x, y) => x.from.localeCompare(y.from) || x.kind.localeCompare(y.kind));
  return { nick, limited, secs, recvKbps: kbps(recv), sentKbps: kbps(sent), rttMs: rtt, availableOutgoingKbps: avail, mediaAddresses: [...mediaAddresses], sending, inbound };
}

const f0 = (x?: number) => (x === undefined ? '-' : x.toFixed(0));
const f1 = (x?: number) => (x === undefined ? '-' : x.toFixed(1));

/** One line per person: their link, then each remote person's video and audio as received. */
export function line(p: PersonFigures): string {
  const remotes = [...new Set(p.inbound.map((s) => s.from))].map((from) => {
    const v = p.inbound.find((s) => s.from === from && s.kind === 'video');
    const a = p.inbound.find((s) => s.from === from && s.kind === 'audio');
    const video = v
      ? `${f0(v.shownHeight ?? v.frameHeight)}p ${f1(v.fps)}fps stalled ${f1(v.stalledSecs)}s (freezes ${f0(v.freezes)}x ${f1(v.frozenSecs)}s) ${f0(v.kbps)}kb`
      : 'no video';
    return `${from}: ${video}, audio concealed ${a ? f1(a.concealedPct) : '-'}%`;
  });
  const layers = p.sending.map((l) => `${l.rid}${f0(l.height)}@${f0(l.fps)}`).join(' ');
  const limits = [...new Set(p.sending.map((l) => l.limitation).filter((l) => l && l !== 'none'))];
  return `${p.nick}${p.limited ? `* (${p.limited})` : ''} | recv ${f0(p.recvKbps)} kbit/s, sent ${f0(p.sentKbps)} kbit/s [${layers}${limits.length ? ` limited by ${limits.join(',')}` : ''}] rtt ${f0(p.rttMs)} ms via ${p.mediaAddresses.join(',') || '?'} | ${remotes.join(' | ')}`;
}

/** How everyone else received one person: their video and audio, averaged over receivers. */
export function seenBy(nick: string, people: PersonFigures[]): string {
  const streams = people.filter((p) => p.nick !== nick).flatMap((p) => p.inbound.filter((s) => s.from === nick));
  const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
  const v = streams.filter((s) => s.kind === 'video');
  const a = streams.filter((s) => s.kind === 'audio');
  return `${nick} as received by the others: video ${f0(avg(v.map((s) => s.shownHeight ?? s.frameHeight!)))}p ${f1(avg(v.map((s) => s.fps!)))} fps, stalled ${f1(avg(v.map((s) => s.stalledSecs ?? NaN)))} s, frozen ${f1(avg(v.map((s) => s.frozenSecs!)))} s, ${f0(avg(v.map((s) => s.kbps)))} kbit/s; audio concealed ${f1(avg(a.map((s) => s.concealedPct!)))} % (mean of ${v.length} receivers)`;
}
