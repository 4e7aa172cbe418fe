import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadSharp } from '../runtime/sharp.js';
import { writeFileAtomic } from '../util/atomic.js';

export interface GalleryItem {
  file: string;
  actual: string;
  predicted: string;
  probabilityOfActual: number;
  probabilityOfPredicted: number;
  loss: number;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * fastai's plot_top_losses: the worst mistakes as thumbnails, each captioned with the true and the
 * predicted class, their probabilities and the loss. One SVG with the thumbnails embedded (JPEG
 * data URIs), rasterised to PNG by sharp like the charts. Unreadable photos get an empty tile.
 */
export async function renderTopLossesGallery(
  items: GalleryItem[],
  title: string,
  basePath: string,
  o: { columns?: number; tile?: number } = {},
): Promise<{ svg: string; png: string }> {
  const tile = o.tile ?? 150;
  const cols = Math.max(1, Math.min(o.columns ?? 5, items.length || 1));
  const rows = Math.max(1, Math.ceil(items.length / cols));
  const captionH = 52;
  const gap = 10;
  const top = 34;
  const width = Math.max(cols * (tile + gap) + gap, Math.ceil(title.length * 8.6) + 2 * gap);
  const height = top + rows * (tile + captionH + gap) + gap;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" ` +
      `height="${height}" font-family="DejaVu Sans, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${gap}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  if (items.length === 0) parts.push(`<text x="${gap}" y="${top + 20}" font-size="12">no mistakes</text>`);
  const sharp = await loadSharp();
  for (const [i, it] of items.entries()) {
    const x = gap + (i % cols) * (tile + gap);
    const y = top + Math.floor(i / cols) * (tile + captionH + gap);
    const thumb = await readFile(it.file)
      .then((b) =>
        sharp(b).rotate().resize(tile, tile, { fit: 'contain', background: '#eeeeee' }).flatten({ background: '#eeeeee' }).jpeg({ quality: 80 }).toBuffer(),
      )
      .catch(() => null);
    parts.push(
      thumb
        ? `<image x="${x}" y="${y}" width="${tile}" height="${tile}" xlink:href="data:image/jpeg;base64,${thumb.toString('base64')}"/>`
        : `<rect x="${x}" y="${y}" width="${tile}" height="${tile}" fill="#eeeeee"/>`,
    );
    const lines = [
      [`true: ${it.actual} (${(it.probabilityOfActual * 100).toFixed(1)}%)`, '#1a7f37'],
      [`said: ${it.predicted} (${(it.probabilityOfPredicted * 100).toFixed(1)}%)`, '#c0392b'],
      [`loss ${it.loss.toFixed(2)} · ${path.basename(it.file)}`, '#555555'],
    ];
    lines.forEach(([text, color], j) =>
      parts.push(`<text x="${x}" y="${y + tile + 14 + j * 15}" font-size="11" fill="${color}">${esc(clip(text!, 26))}</text>`),
    );
  }
  parts.push('</svg>');
  const svg = parts.join('\n');
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  await writeFileAtomic(`${basePath}.svg`, svg);
  await writeFileAtomic(`${basePath}.png`, png);
  return { svg: `${basePath}.svg`, png: `${basePath}.png` };
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
