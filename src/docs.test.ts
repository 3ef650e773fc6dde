// The documentation against the repository: README.md, ROADMAP.md, ARCHITECTURE.md and docs/*.md link only to
// files (and headings) that exist and name only repository paths that exist; the README stays one
// screen long and links every docs page; and the figures the pages state for the Node version and
// the config and form defaults are the ones package.json and the one table of defaults hold
// (configDefaults() of src/engine/config.ts: COMMON_DEFAULTS and the variants' declarations),
// which the page's form starts from (src/store/store.ts).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARCHITECTURES, configDefaults, variantDeclarations } from './engine/config';
import { DEFAULT_FORM, FORM_D_SAE } from './store/store';

const ROOT = path.resolve(import.meta.dirname, '..');
const DOCS = path.join(ROOT, 'docs');
const README = path.join(ROOT, 'README.md');
const ROADMAP = path.join(ROOT, 'ROADMAP.md');
const README_MAX_LINES = 80;

const read = (file: string) => readFileSync(file, 'utf8');
const pages = readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => path.join(DOCS, f));
const documents = [README, ROADMAP, path.join(ROOT, 'ARCHITECTURE.md'), ...pages];
const rel = (file: string) => path.relative(ROOT, file);

/** The text outside fenced code blocks (fences and their contents become blank lines). */
function prose(markdown: string): string {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) { fenced = !fenced; return ''; }
    return fenced ? '' : line;
  }).join('\n');
}

/** Inline code spans replaced by a placeholder, so `[N, d](…)`-like code is not taken for a link. */
const withoutCode = (text: string) => text.replace(/(`+)[\s\S]*?\1/g, 'code');

/** Link and image targets of a page: [text](target), ![alt](target), <img src="target">. */
function targets(markdown: string): string[] {
  const text = withoutCode(prose(markdown));
  const out: string[] = [];
  for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1]);
  for (const m of text.matchAll(/<img\b[^>]*\bsrc\s*=\s*"([^"]+)"/gi)) out.push(m[1]);
  return out;
}

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as hyphens. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(markdown).split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1].replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = text.toLowerCase().replace(/[^\p{L}\p{N}\p{M} _-]/gu, '').replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');

/** Cells of a Markdown table row (a `\|` inside a cell is not a separator). */
const cells = (row: string) => row.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim());
/** The `code` spans of a cell, in order. */
const codeSpans = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/** The table rows (after the header and rule) under a heading of a page, up to the next heading. */
function tableUnder(markdown: string, heading: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#{1,6}\s/.test(l) && l.replace(/^#+\s*/, '').trim() === heading);
  expect(start, `heading "${heading}"`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (let i = start + 1; i < lines.length && !/^#{1,6}\s/.test(lines[i]); i++) {
    if (!lines[i].trim().startsWith('|') || /^\|\s*-/.test(lines[i].trim())) continue;
    rows.push(cells(lines[i]));
  }
  return rows.slice(1); // the header row
}

/** A documented default as a value: JSON (`1024`, `"topk"`, `false`) or a fraction (`1/32`); undefined otherwise. */
function literal(text: string): unknown {
  const fraction = /^(\d+)\/(\d+)$/.exec(text);
  if (fraction) return Number(fraction[1]) / Number(fraction[2]);
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

describe('documentation', () => {
  it('has a README and docs pages to check', () => {
    expect(existsSync(README)).toBe(true);
    expect(pages.length).toBeGreaterThan(5);
  });

  it.each(documents.map((f) => [rel(f), f]))('%s: every relative link and image points at an existing file and heading', (_, file) => {
    const markdown = read(file);
    const problems: string[] = [];
    for (const target of targets(markdown)) {
      if (isExternal(target)) continue;
      const [filePart, anchor] = target.split('#', 2);
      const resolved = filePart ? path.resolve(path.dirname(file), decodeURIComponent(filePart)) : file;
      if (!resolved.startsWith(ROOT)) { problems.push(`${target}: outside the repository`); continue; }
      if (!existsSync(resolved)) { problems.push(`${target}: no such file`); continue; }
      if (anchor !== undefined) {
        if (!resolved.endsWith('.md')) { problems.push(`${target}: an anchor into a file that is not Markdown`); continue; }
        if (!anchors(read(resolved)).has(anchor)) problems.push(`${target}: no heading with that anchor in ${rel(resolved)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(documents.map((f) => [rel(f), f]))('%s: every repository path it names in code exists', (_, file) => {
    const text = prose(read(file));
    const missing = [...text.matchAll(/`((?:src|scripts|e2e|bin|fixtures|docs|public)\/[\w./-]*)`/g)]
      .map((m) => m[1])
      .filter((p) => !existsSync(path.join(ROOT, p)));
    expect(missing).toEqual([]);
  });

  it(`README.md is one screen: at most ${README_MAX_LINES} lines`, () => {
    expect(read(README).trimEnd().split('\n').length).toBeLessThanOrEqual(README_MAX_LINES);
  });

  it('README links every docs page, and every picture in docs/ is used by a page', () => {
    const fromReadme = new Set(targets(read(README)).filter((t) => !isExternal(t)).map((t) => path.resolve(ROOT, t.split('#')[0])));
    expect(pages.filter((p) => !fromReadme.has(p)).map(rel)).toEqual([]);
    const used = new Set(documents.flatMap((f) => targets(read(f)).filter((t) => !isExternal(t)).map((t) => path.resolve(path.dirname(f), t.split('#')[0]))));
    const pictures = readdirSync(DOCS).filter((f) => /\.(png|svg|jpe?g|gif|webp)$/i.test(f)).map((f) => path.join(DOCS, f));
    expect(pictures.filter((p) => !used.has(p)).map(rel)).toEqual([]);
  });

  it('README states the Node versions of package.json engines', () => {
    const engines = (JSON.parse(read(path.join(ROOT, 'package.json'))) as { engines?: { node?: string } }).engines?.node;
    expect(engines).toBeTruthy();
    const stated = /Node\.js `([^`]+)`/.exec(read(README))?.[1];
    expect(stated, 'README: "Node.js `<range>`"').toBe(engines);
  });

  describe('docs/configuration.md', () => {
    const markdown = read(path.join(DOCS, 'configuration.md'));
    const { common, variants } = configDefaults();
    /** Every variant field: its one default (null: computed from the data) and whether it is computed. */
    const fields = new Map<string, { value: unknown; computed: boolean; list: boolean }>();
    for (const d of variantDeclarations()) {
      for (const [key, spec] of Object.entries(d.fields)) fields.set(key, { value: spec.default, computed: spec.compute !== undefined, list: spec.type === 'numbers' });
    }

    it("states a config's manual k and the page form's k: the same default", () => {
      const manualK = variants.topk.k;
      const form = /Model panel starts at k (\d+)/.exec(markdown)?.[1];
      expect(form, '"Model panel starts at k N"').toBeDefined();
      expect(Number(form)).toBe(DEFAULT_FORM.k);
      const config = /a config without `k` uses (\d+)/.exec(markdown)?.[1];
      expect(config, '"a config without `k` uses N"').toBeDefined();
      expect(Number(config)).toBe(manualK);
      expect(DEFAULT_FORM.k).toBe(manualK);
    });

    it('the keys table lists every key with a default, and every documented default is the code\'s', () => {
      const rows = tableUnder(markdown, 'Keys and defaults');
      const documented = new Map<string, string[]>();
      let compared = 0;
      for (const row of rows) {
        const keys = codeSpans(row[0]);
        const values = codeSpans(row[1] ?? '');
        if (keys.length > 1 && values.length > 0) expect(values, `one default per key in the row of ${keys.join(', ')}`).toHaveLength(keys.length);
        keys.forEach((key, i) => {
          documented.set(key, keys.length > 1 ? [values[i]] : values);
          const stated = values[i] === undefined ? undefined : literal(values[i]);
          if (key in common) {
            expect(stated, `the default of ${key}`).toEqual((common as Record<string, unknown>)[key]);
            compared++;
          } else if (fields.has(key)) {
            const { value, computed } = fields.get(key)!;
            if (computed) {
              // A computed default is stated in words; a fixed fallback must be among the cell's values (k: manual 32).
              if (value !== null) expect((keys.length > 1 ? [values[i]] : values).map(literal), `the default of ${key}`).toContainEqual(value);
            } else {
              expect(stated, `the default of ${key}`).toEqual(value);
            }
            compared++;
          }
        });
      }
      expect([...Object.keys(common), ...fields.keys()].filter((k) => !documented.has(k))).toEqual([]);
      // A variant's own default for a common key is stated in that key's row: `classic`: `10`.
      for (const d of variantDeclarations()) {
        for (const [key, value] of Object.entries(d.commonDefaults ?? {})) {
          const cell = rows.find((r) => codeSpans(r[0]).includes(key))?.[1] ?? '';
          expect(cell, `${key}'s row states ${d.architecture}'s default`).toContain(`\`${d.architecture}\`: \`${JSON.stringify(value)}\``);
        }
      }
      expect(compared).toBeGreaterThan(40);
    });

    it('the page form starts from the same defaults; the form table states the fields that cannot', () => {
      const rows = tableUnder(markdown, "The page's Model panel");
      expect(rows.map((r) => codeSpans(r[0])[0])).toEqual(['d_sae']);
      expect(Number(/^[\d.]+/.exec(rows[0][1])?.[0]), "the form's d_sae").toBe(FORM_D_SAE);
      expect(DEFAULT_FORM.d_sae).toBe(FORM_D_SAE);
      for (const [key, value] of Object.entries(DEFAULT_FORM)) {
        if (key === 'd_sae') continue;
        if (key === 'target_l0_percent') expect(value).toBe(common.target_l0 * 100);
        else if (['layer', 'layer_start', 'layer_end', 'early_stopping_patience'].includes(key)) expect(value, `${key}: the config's default`).toBeNull();
        else if (key in common) expect(value, `the form's ${key}`).toBe((common as Record<string, unknown>)[key]);
        else {
          expect(fields.has(key), `${key} is a variant's field`).toBe(true);
          // A list is edited as text ('' = its default); a default computed from the data is null (sent as nothing).
          const { value: d, list } = fields.get(key)!;
          expect(value, `the form's ${key}`).toEqual(list ? (Array.isArray(d) ? d.join(', ') : '') : d);
        }
      }
    });
  });

  it('docs/variants.md has a row for every architecture', () => {
    const rows = tableUnder(read(path.join(DOCS, 'variants.md')), 'Variants');
    const listed = rows.map((r) => codeSpans(r[0])[0]);
    expect(ARCHITECTURES.filter((a) => !listed.includes(a))).toEqual([]);
  });
});
