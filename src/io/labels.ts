// Labels for guidance (docs/data-formats.md): one number per activation row, from .npy, .csv or .jsonl.
// Every failure is a LabelsError that names the file, where the problem is, and how to fix it.
import { NpyError, parseNpy } from './npy';

export class LabelsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabelsError';
  }
}

export interface ParsedLabels {
  values: Float32Array;
  /** The CSV column or JSONL key the values came from, when the file names one. */
  column?: string;
}

/** Column / key names taken as the label, in order of preference (compared case-insensitively). */
const LABEL_NAMES = ['label', 'labels', 'y', 'target'];
const ONE_PER_ROW = 'one label per activation row (1/0 or true/false)';

export function parseLabels(buffer: ArrayBuffer, name: string): ParsedLabels {
  const ext = /\.[^./\\]+$/.exec(name)?.[0].toLowerCase();
  if (buffer.byteLength === 0) throw new LabelsError(`${name} is empty; it must hold ${ONE_PER_ROW}.`);
  switch (ext) {
    case '.npy': return { values: labelsFromNpy(buffer, name) };
    case '.csv': return labelsFromCsv(decodeText(buffer, name), name);
    case '.jsonl': return labelsFromJsonl(decodeText(buffer, name), name);
    default:
      throw new LabelsError(`${name} has ${ext ? `extension ${ext}` : 'no extension'}, which is not a labels format; save the labels as .csv, .jsonl or .npy with ${ONE_PER_ROW}.`);
  }
}

/** Throws unless there is exactly one label per activation row. */
export function checkLabelCount(values: Float32Array, rows: number, name: string): void {
  if (values.length === rows) return;
  const fmt = (n: number) => n.toLocaleString('en-US');
  throw new LabelsError(`${name} has ${fmt(values.length)} values but the activations have ${fmt(rows)} rows; labels must have one value per activation row.`);
}

// ---- .npy -------------------------------------------------------------------------------------

const NPY_LABEL_DESCRS = new Set(['<f4', '<f2', '<f8', '<i4', '<i8', '|u1', '|b1']);

function labelsFromNpy(buffer: ArrayBuffer, name: string): Float32Array {
  rejectUnsupportedDtype(buffer, name);
  let arr;
  try {
    arr = parseNpy(buffer, name);
  } catch (e) {
    // One error type for the caller; parseNpy's messages already name the file and the fix.
    if (e instanceof NpyError) throw new LabelsError(e.message);
    throw e;
  }
  // [N], [N, 1], [1, N]: any shape with at most one dimension longer than 1 is a list of labels.
  if (arr.shape.filter((d) => d > 1).length > 1) {
    throw new LabelsError(`${name} has shape [${arr.shape.join(', ')}]; labels must be 1-D [N] with one value per activation row. Save labels.reshape(-1) or pick the one column you mean.`);
  }
  if (arr.data.length === 0) throw new LabelsError(`${name} holds no values (shape [${arr.shape.join(', ')}]); it must hold ${ONE_PER_ROW}.`);
  const values = Float32Array.from(arr.data as ArrayLike<number>);
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new LabelsError(`${name} has ${describeNonFinite(values[bad])} at index ${bad} (row ${bad + 1}); every label must be a finite number. Fill or drop those rows (in both files), e.g. with np.nan_to_num.`);
  }
  return values;
}

/**
 * parseNpy's own dtype message is about activations; look at the header's descr first so that a
 * string or object array of labels gets a message about labels.
 */
function rejectUnsupportedDtype(buffer: ArrayBuffer, name: string): void {
  const head = new TextDecoder('latin1').decode(new Uint8Array(buffer, 0, Math.min(buffer.byteLength, 4096)));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(head)?.[1];
  if (descr === undefined || descr.startsWith('>')) return; // parseNpy explains malformed and big-endian files
  const normalised = descr.replace(/^=/, '<');
  if (NPY_LABEL_DESCRS.has(normalised)) return;
  const numeric = /^[<|]?[fiub]\d+$/.test(normalised);
  throw new LabelsError(
    `${name} has dtype ${descr}${numeric ? '' : ', which is not numeric'}; labels must be bool, uint8, int32, int64, float16, float32 or float64. ` +
      `Save them with np.save("${name}", np.asarray(labels, dtype=np.float32)).`,
  );
}

// ---- text formats -----------------------------------------------------------------------------

function decodeText(buffer: ArrayBuffer, name: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buffer);
  } catch {
    throw new LabelsError(`${name} is not UTF-8 text; save it as a UTF-8 text file with ${ONE_PER_ROW}.`);
  }
}

/** Lines with their 1-based numbers; trailing blank lines are dropped, blank lines inside are kept. */
function textLines(text: string, name: string): { line: number; text: string }[] {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0) throw new LabelsError(`${name} is empty; it must hold ${ONE_PER_ROW}.`);
  return lines.map((t, i) => ({ line: i + 1, text: t }));
}

function describeNonFinite(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

const NON_FINITE_WORD = /^[+-]?(nan|inf|infinity)$/i;

/** A CSV cell as a label: a finite number, or true/false; undefined when it is neither. */
function cellValue(cell: string): number | undefined {
  const t = cell.trim();
  if (t === '') return undefined;
  const lower = t.toLowerCase();
  if (lower === 'true') return 1;
  if (lower === 'false') return 0;
  const n = Number(t);
  return Number.isNaN(n) ? undefined : n;
}

/** One CSV line into cells (RFC 4180 quoting within the line: "a, b" and "" for a quote). */
function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { cells.push(cell); cell = ''; }
    else cell += ch;
  }
  cells.push(cell);
  return cells;
}

/** Whether a CSV line leaves a quoted cell open (quotes inside a cell are written "", per RFC 4180). */
function hasUnclosedQuote(line: string): boolean {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] !== '"') continue;
    if (quoted && line[i + 1] === '"') i++;
    else quoted = !quoted;
  }
  return quoted;
}

function labelsFromCsv(text: string, name: string): ParsedLabels {
  const lines = textLines(text, name);
  const open = lines.find((l) => hasUnclosedQuote(l.text));
  if (open) {
    throw new LabelsError(`line ${open.line} of ${name} opens a quoted cell (") that is never closed; close the quote on the same line, or write a quote inside a cell as "".`);
  }
  const first = splitCsvLine(lines[0].text).map((c) => c.trim());
  const lowerFirst = first.map((c) => c.toLowerCase());
  const named = LABEL_NAMES.map((n) => lowerFirst.indexOf(n)).find((i) => i >= 0);
  // Which column holds the labels: a known name in the header, else the last column. The first
  // line is a header when it names the column or its label cell is not a value.
  const columnIndex = named ?? first.length - 1;
  // (An empty or "nan" cell is a missing label in a data line, reported below, not a header.)
  const firstCell = first[columnIndex];
  const hasHeader = named !== undefined || (firstCell !== '' && !NON_FINITE_WORD.test(firstCell) && cellValue(firstCell) === undefined);
  const columnLabel = first.length > 1 ? (hasHeader ? `column "${first[columnIndex]}"` : `column ${columnIndex + 1}`) : undefined;
  const where = (line: number) => `line ${line} of ${name}${columnLabel ? `, ${columnLabel},` : ''}`;

  const body = hasHeader ? lines.slice(1) : lines;
  if (body.length === 0) throw new LabelsError(`${name} has a header line but no values; add ${ONE_PER_ROW} below it.`);
  const values = new Float32Array(body.length);
  body.forEach(({ line, text: t }, row) => {
    if (t.trim() === '') throw new LabelsError(`line ${line} of ${name} is blank; every line after the header must hold one label, so remove the blank line (or fill in the missing label).`);
    const cells = splitCsvLine(t);
    if (cells.length <= columnIndex) {
      throw new LabelsError(`line ${line} of ${name} has ${cells.length} column${cells.length === 1 ? '' : 's'} but the labels are in column ${columnIndex + 1}; give every line the same columns.`);
    }
    const cell = cells[columnIndex].trim();
    if (NON_FINITE_WORD.test(cell)) throw new LabelsError(`${where(line)} is "${cell}"; every label must be a finite number, so fill in that label or drop the row from both files.`);
    if (cell === '') throw new LabelsError(`${where(line)} is empty; every row needs a label (a number or true/false), so fill it in or drop the row from both files.`);
    const v = cellValue(cell);
    if (v === undefined) throw new LabelsError(`${where(line)} is "${cell}", not a number or true/false; write each label as a number (e.g. 1 or 0) or true/false.`);
    if (!Number.isFinite(v)) throw new LabelsError(`${where(line)} is "${cell}", which is out of range; every label must be a finite number.`);
    values[row] = v;
  });
  return hasHeader ? { values, column: firstCell } : { values };
}

function labelsFromJsonl(text: string, name: string): ParsedLabels {
  const lines = textLines(text, name);
  const values = new Float32Array(lines.length);
  let column: string | undefined;
  lines.forEach(({ line, text: t }, row) => {
    if (t.trim() === '') throw new LabelsError(`line ${line} of ${name} is blank; each line must hold one JSON label, so remove the blank line (or fill in the missing label).`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch (e) {
      throw new LabelsError(`line ${line} of ${name} is not valid JSON (${(e as Error).message}); each line must be a number, true/false, or an object such as {"label": 1}.`);
    }
    let value = parsed;
    let where = `line ${line} of ${name}`;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const record = parsed as Record<string, unknown>;
      const keys = Object.keys(record);
      const key = LABEL_NAMES.map((n) => keys.find((k) => k.toLowerCase() === n)).find((k) => k !== undefined);
      if (key === undefined) {
        throw new LabelsError(`line ${line} of ${name} is an object without a label key (it has ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'no keys'}); name the label "label", "labels", "y" or "target".`);
      }
      column ??= key;
      value = record[key];
      where += `, key "${key}",`;
    }
    if (typeof value === 'boolean') values[row] = value ? 1 : 0;
    else if (typeof value === 'number') {
      // JSON has no NaN, but 1e999 parses to Infinity.
      if (!Number.isFinite(value)) throw new LabelsError(`${where} is ${describeNonFinite(value)}; every label must be a finite number.`);
      values[row] = value;
    } else {
      throw new LabelsError(`${where} is ${JSON.stringify(value)}, not a number or true/false; write the label as a JSON number (1, 0) or boolean (true, false), not a string or null.`);
    }
  });
  return column === undefined ? { values } : { values, column };
}
