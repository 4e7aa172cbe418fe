import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The repository's root (this file lives in support/). */
export const repoRoot = path.resolve(import.meta.dirname, '..');

/** The project's Markdown documents: README.md, CONTRIBUTING.md and every page in docs/, as absolute paths. */
export function markdownFiles(root = repoRoot): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => path.join(root, 'docs', f));
  return [path.join(root, 'README.md'), path.join(root, 'CONTRIBUTING.md'), ...docs];
}

/** A fenced code block: its info string (after the backticks), its body, and the 1-based lines it spans (fences included). */
export interface FencedBlock {
  info: string;
  body: string;
  startLine: number;
  endLine: number;
}

/** Every fenced block (``` or ~~~) of a Markdown text, in order. An unclosed fence runs to the end, as CommonMark reads it. */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split('\n');
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    let j = i + 1;
    while (j < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[j]!)) j++;
    blocks.push({ info: open[2]!.trim(), body: lines.slice(i + 1, j).join('\n'), startLine: i + 1, endLine: Math.min(j, lines.length - 1) + 1 });
    i = j;
  }
  return blocks;
}

/** The text outside fenced blocks and inline code spans (where links live), with line structure kept. */
export function proseOnly(markdown: string): string {
  const lines = markdown.split('\n');
  for (const b of fencedBlocks(markdown)) for (let l = b.startLine - 1; l < b.endLine; l++) lines[l] = '';
  return lines.map((l) => l.replace(/(`+)[^`]*?\1/g, '')).join('\n');
}

/** A link or image in Markdown prose: its target as written, and the line it is on. */
export interface MarkdownLink {
  target: string;
  line: number;
}

/** Every link and image target in a Markdown text: `[text](target)`, `![alt](target)`, `[ref]: target`, `<img src="…">` and `<a href="…">`. */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const out: MarkdownLink[] = [];
  proseOnly(markdown)
    .split('\n')
    .forEach((text, i) => {
      const patterns = [/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g, /^\s*\[[^\]]+\]:\s*(\S+)/g, /<(?:img|a)\s[^>]*?(?:src|href)="([^"]+)"/g];
      for (const re of patterns) for (const m of text.matchAll(re)) out.push({ target: m[1]!, line: i + 1 });
    });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits, `_`, `-` and spaces kept), spaces to hyphens. */
export function headingSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link in a heading anchors on its text
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors a Markdown text defines: one per heading (repeats numbered -1, -2, … as GitHub does) and every `<a id>`/`<a name>`. */
export function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const lines = markdown.split('\n');
  const fenced = new Set<number>();
  for (const b of fencedBlocks(markdown)) for (let l = b.startLine - 1; l < b.endLine; l++) fenced.add(l);
  lines.forEach((line, i) => {
    if (fenced.has(i)) return;
    const h = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const slug = headingSlug(h[1]!);
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      anchors.add(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const m of line.matchAll(/<a\s[^>]*?(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  });
  return anchors;
}

/** Reads a file as UTF-8. */
export const readText = (file: string) => readFileSync(file, 'utf8');
