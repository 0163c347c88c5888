/**
 * Human rendering of `torrent info`: a labelled summary, then files as a tree, then trackers.
 * Linear in the number of files and never spreads a list into call arguments (a torrent of
 * 130,000 files would overflow the stack: arguments live on it).
 */
import type { ChalkInstance } from 'chalk';
import { formatBytes } from '../util/format.js';
import type { InfoFile, InfoJson } from './info-view.js';

export function renderInfo(v: InfoJson, c: ChalkInstance, warnings: readonly string[] = []): string {
  const lines: string[] = [];
  const row = (label: string, value: string | null | undefined): void => {
    if (value !== null && value !== undefined && value !== '') lines.push(`${c.bold(label.padEnd(14))}${value}`);
  };
  row('Name', v.name ?? c.dim('(unknown until metadata is fetched)'));
  row('Info hash v1', v.infoHash);
  row('Info hash v2', v.infoHashV2);
  if (v.length !== null) row('Size', `${formatBytes(v.length)} (${v.length.toLocaleString('en-US')} bytes)`);
  if (v.pieceLength !== null && v.pieceCount !== null) {
    row('Pieces', `${v.pieceCount.toLocaleString('en-US')} × ${formatBytes(v.pieceLength)}`);
  }
  if (v.private !== null) row('Private', v.private ? 'yes (trackers only: no DHT, no PEX)' : 'no');
  row('Created', v.creationDate);
  row('Created by', v.createdBy);
  row('Comment', v.comment);
  if (v.peers && v.peers.length > 0) row('Peers', v.peers.join(', '));
  if (v.select) row('Select', v.select.join(','));
  for (const w of warnings) row('Warning', c.yellow(w));

  if (v.files) {
    lines.push('', c.bold(`Files (${v.files.length.toLocaleString('en-US')})`));
    for (const line of renderTree(v.name ?? '', v.files, c)) lines.push(line);
  }
  if (v.announce.length > 0) {
    lines.push('', c.bold('Trackers'));
    v.announce.forEach((tier, i) => {
      tier.forEach((url, j) => lines.push(`  ${j === 0 ? `tier ${i}`.padEnd(8) : ' '.repeat(8)}${url}`));
    });
  }
  if (v.urlList.length > 0) {
    lines.push('', c.bold('Web seeds'));
    for (const u of v.urlList) lines.push(`  ${u}`);
  }
  lines.push('', c.bold('Magnet'), `  ${v.magnet}`);
  return `${lines.join('\n')}\n`;
}

interface Dir {
  dirs: Map<string, Dir>;
  files: { name: string; length: number }[];
  size: number;
}

/** Files as an indented tree with sizes; a single-file torrent is one line. */
function renderTree(root: string, files: InfoFile[], c: ChalkInstance): string[] {
  const single = files.length === 1 && files[0]!.path === root;
  if (single) return [`  ${files[0]!.path}  ${c.dim(formatBytes(files[0]!.length))}`];
  const top: Dir = { dirs: new Map(), files: [], size: 0 };
  for (const f of files) {
    const parts = f.path.split('/');
    let d = top;
    d.size += f.length;
    for (const p of parts.slice(0, -1)) {
      let next = d.dirs.get(p);
      if (!next) d.dirs.set(p, (next = { dirs: new Map(), files: [], size: 0 }));
      next.size += f.length;
      d = next;
    }
    d.files.push({ name: parts[parts.length - 1]!, length: f.length });
  }
  const out = [`  ${c.blue(`${root}/`)}  ${c.dim(formatBytes(top.size))}`];
  const walk = (d: Dir, indent: string): void => {
    const entries: [string, Dir | number][] = [];
    for (const [n, sub] of d.dirs) entries.push([n, sub]);
    for (const f of d.files) entries.push([f.name, f.length]);
    entries.forEach(([name, e], i) => {
      const last = i === entries.length - 1;
      const branch = last ? '└─ ' : '├─ ';
      if (typeof e === 'number') {
        out.push(`  ${indent}${branch}${name}  ${c.dim(formatBytes(e))}`);
      } else {
        out.push(`  ${indent}${branch}${c.blue(`${name}/`)}  ${c.dim(formatBytes(e.size))}`);
        walk(e, indent + (last ? '   ' : '│  '));
      }
    });
  };
  walk(top, '');
  return out;
}
