/**
 * The dashboard's files (monitor/public/): plain HTML, JS and CSS, no build step and nothing from
 * a CDN. Only the names listed here are served, so a request cannot name any other file.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const PUBLIC_DIR = new URL('./public/', import.meta.url);

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

export async function staticAsset(name: string): Promise<{ body: string; contentType: string } | null> {
  const contentType = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!contentType) return null;
  return { body: await readFile(fileURLToPath(new URL(name, PUBLIC_DIR)), 'utf8'), contentType };
}
