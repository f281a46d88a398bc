// A markdown table from the JSON files lab/weak-link.spec.ts writes (LAB_OUT), one row per
// file (a directory's in the order they were written): `node lab/table.mjs DIR_OR_FILES...`. "limited" is the limited person (or the last
// one when nothing is limited), "others" the mean over everyone else; figures per remote
// stream are means over the streams a person receives. Height: the mean height of the frames
// shown in the window (older figures, without it: the last decoded frame's).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const files = process.argv.slice(2).flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p).filter((f) => f.endsWith('.json')).map((f) => join(p, f)).sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
    : [p]);
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

function received(p) {
  const v = p.inbound.filter((s) => s.kind === 'video');
  const a = p.inbound.filter((s) => s.kind === 'audio');
  return {
    height: mean(v.map((s) => s.shownHeight ?? s.frameHeight)), fps: mean(v.map((s) => s.fps)), stalled: mean(v.map((s) => s.stalledSecs ?? NaN)),
    concealed: mean(a.map((s) => s.concealedPct)), kbps: p.recvKbps, rtt: p.rttMs ?? NaN,
  };
}

console.log('| case | loadavg (1 min) | limited: video recv (height, fps, stalled s) | limited: audio concealed % | limited: recv kbit/s, RTT ms | others: video recv (fps, stalled s) | others: audio concealed % | limited as received by others (fps, stalled s) | tbf drops |');
console.log('|---|---|---|---|---|---|---|---|---|');
function row(name, d, people, who) {
  const lim = people.find((p) => p.nick === who);
  const others = people.filter((p) => p.nick !== who);
  const l = received(lim);
  const o = others.map(received);
  const seen = others.flatMap((p) => p.inbound.filter((s) => s.from === who && s.kind === 'video'));
  const drops = /dropped (\d+)/.exec(d.tbf ?? '')?.[1] ?? '-';
  return `| ${name} | ${d.loadavg.map((s) => s.split(' ')[0]).join(' → ')} | ${f(l.height, 0)}p, ${f(l.fps)}, ${f(l.stalled)} | ${f(l.concealed)} | ${f(l.kbps, 0)}, ${f(l.rtt, 0)} | ${f(mean(o.map((x) => x.fps)))}, ${f(mean(o.map((x) => x.stalled)))} | ${f(mean(o.map((x) => x.concealed)))} | ${f(mean(seen.map((s) => s.fps)))}, ${f(mean(seen.map((s) => s.stalledSecs ?? NaN)))} | ${drops} |`;
}

for (const file of files) {
  const d = JSON.parse(readFileSync(file, 'utf8'));
  const who = d.limit.kbit > 0 ? d.limit.who : d.people[d.people.length - 1].nick;
  const name = d.limit.kbit > 0 ? `${who} ${d.limit.dir} ${d.limit.kbit} kbit/s${d.limit.at === 'call' ? ' (from mid-call)' : ''}` : 'no limit';
  console.log(row(name, d, d.people, who));
  // With RECOVER_SECS: the window after the limit was lifted (tbf counters are the first window's).
  if (d.after) console.log(row(`… ${d.recoverSecs} s after lifting it`, { ...d, loadavg: d.after.loadavg, tbf: '' }, d.after.people, who));
}
