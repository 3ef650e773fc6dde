import { describe, expect, it } from 'vitest';
import { LabelsError, checkLabelCount, parseLabels } from './labels';
import { writeNpy } from './npy';

const text = (s: string): ArrayBuffer => new TextEncoder().encode(s).buffer as ArrayBuffer;
const bytes = (u: Uint8Array): ArrayBuffer => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

/** A format 1.0 .npy built byte by byte from the spec (magic, version, header length, header, payload). */
function npy(descr: string, shape: string, payload: Uint8Array): ArrayBuffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(payload, 10 + header.length);
  return out.buffer;
}
const raw = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const values = (buf: ArrayBuffer, name: string) => Array.from(parseLabels(buf, name).values);

/** Expects a LabelsError whose message contains every fragment. */
function expectLabelsError(fn: () => unknown, ...fragments: (string | RegExp)[]): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(LabelsError);
  for (const f of fragments) expect((err as Error).message).toMatch(f);
}

describe('parseLabels: .npy', () => {
  it('reads float32 [N] and int32 [N, 1] (writeNpy)', () => {
    expect(values(bytes(writeNpy(new Float32Array([1, 0, 0.25, 1]), [4])), 'y.npy')).toEqual([1, 0, 0.25, 1]);
    expect(values(bytes(writeNpy(new Int32Array([0, 1, 1]), [3, 1])), 'y.npy')).toEqual([0, 1, 1]);
  });

  it('reads bool, uint8, int64, float16 and float64, and [1, N]', () => {
    expect(values(npy('|b1', '(4,)', new Uint8Array([1, 0, 0, 1])), 'y.npy')).toEqual([1, 0, 0, 1]);
    expect(values(npy('|u1', '(3,)', new Uint8Array([0, 1, 2])), 'y.npy')).toEqual([0, 1, 2]);
    expect(values(npy('<i8', '(3,)', raw(new BigInt64Array([1n, 0n, -1n]))), 'y.npy')).toEqual([1, 0, -1]);
    expect(values(npy('<f2', '(3,)', raw(new Uint16Array([0x3c00, 0x0000, 0x3800]))), 'y.npy')).toEqual([1, 0, 0.5]); // 1, 0, 0.5
    expect(values(npy('<f8', '(1, 3)', raw(new Float64Array([0.5, 1, 0]))), 'y.npy')).toEqual([0.5, 1, 0]);
    expect(parseLabels(npy('|b1', '(2,)', new Uint8Array([1, 0])), 'y.npy').column).toBeUndefined();
  });

  it('rejects more than one meaningful dimension, non-numeric dtypes, NaN/Inf, no values, and non-npy bytes', () => {
    expectLabelsError(() => parseLabels(bytes(writeNpy(new Float32Array(6), [2, 3])), 'y.npy'), 'y.npy has shape [2, 3]', 'must be 1-D [N]', 'reshape(-1)');
    expectLabelsError(() => parseLabels(npy('<U3', '(2,)', new Uint8Array(24)), 'y.npy'), 'y.npy has dtype <U3, which is not numeric', 'np.float32');
    expectLabelsError(() => parseLabels(npy('|O', '(2,)', new Uint8Array(16)), 'y.npy'), 'not numeric');
    expectLabelsError(() => parseLabels(npy('<i2', '(2,)', new Uint8Array(4)), 'y.npy'), 'y.npy has dtype <i2;', 'bool, uint8, int32, int64, float16, float32 or float64');
    expectLabelsError(() => parseLabels(bytes(writeNpy(new Float32Array([0, 1, NaN]), [3])), 'y.npy'), 'y.npy has NaN at index 2 (row 3)', 'finite');
    expectLabelsError(() => parseLabels(bytes(writeNpy(new Float32Array([-Infinity]), [1])), 'y.npy'), '-Infinity at index 0');
    expectLabelsError(() => parseLabels(bytes(writeNpy(new Float32Array(0), [0])), 'y.npy'), 'y.npy holds no values');
    expectLabelsError(() => parseLabels(text('0\n1\n'), 'y.npy'), 'y.npy is not a NumPy .npy file');
  });
});

describe('parseLabels: .csv', () => {
  it('reads one value per line, with or without a header, with true/false, CRLF, a BOM and a trailing blank line', () => {
    expect(parseLabels(text('1\n0\n0.5\n'), 'l.csv')).toEqual({ values: new Float32Array([1, 0, 0.5]) });
    expect(parseLabels(text('label\n1\n0\n\n'), 'l.csv')).toEqual({ values: new Float32Array([1, 0]), column: 'label' });
    expect(parseLabels(text('is_capital\r\nTrue\r\nfalse\r\nTRUE\r\n'), 'l.csv')).toEqual({ values: new Float32Array([1, 0, 1]), column: 'is_capital' });
    expect(values(text('\uFEFF1\n0\n'), 'l.csv')).toEqual([1, 0]);
  });

  it('takes the column named label / labels / y / target, else the last column', () => {
    expect(parseLabels(text('text,Label,score\n"Hello, world",1,0.3\nhi,0,0.9\n'), 'l.csv')).toEqual({ values: new Float32Array([1, 0]), column: 'Label' });
    expect(parseLabels(text('target,text\n1,a\n0,b\n'), 'l.csv').column).toBe('target');
    expect(parseLabels(text('id,is_noun\n0,1\n1,0\n'), 'l.csv')).toEqual({ values: new Float32Array([1, 0]), column: 'is_noun' });
    expect(parseLabels(text('7,1\n8,0\n9,1\n'), 'l.csv')).toEqual({ values: new Float32Array([1, 0, 1]) }); // no header: last column
    expect(values(text('text,y\n"say ""hi""",1\n'), 'l.csv')).toEqual([1]);
  });

  it('names the line, the value and the fix for a non-numeric value', () => {
    const lines = ['label', '1', '0', '1', '0', '1', 'abc', '0'].join('\n');
    expectLabelsError(() => parseLabels(text(lines), 'labels.csv'), 'line 7 of labels.csv is "abc", not a number or true/false');
    expectLabelsError(() => parseLabels(text('a,label\nx,1\ny,yes\n'), 'labels.csv'), 'line 3 of labels.csv, column "label", is "yes", not a number or true/false');
  });

  it('rejects NaN / Inf, empty cells, blank lines inside, short rows, empty files and a header alone', () => {
    expectLabelsError(() => parseLabels(text('1\nnan\n0\n'), 'l.csv'), 'line 2 of l.csv is "nan"', 'finite');
    expectLabelsError(() => parseLabels(text('1\n0\n-inf\n'), 'l.csv'), 'line 3 of l.csv is "-inf"');
    expectLabelsError(() => parseLabels(text('1\n1e999\n'), 'l.csv'), 'line 2 of l.csv is "1e999"', 'finite');
    expectLabelsError(() => parseLabels(text('text,label\na,1\nb,\n'), 'l.csv'), 'line 3 of l.csv, column "label", is empty');
    expectLabelsError(() => parseLabels(text('1\n\n0\n'), 'l.csv'), 'line 2 of l.csv is blank', 'remove the blank line');
    expectLabelsError(() => parseLabels(text('a,b,label\n1,2,1\n3,4\n'), 'l.csv'), 'line 3 of l.csv has 2 columns but the labels are in column 3');
    expectLabelsError(() => parseLabels(new ArrayBuffer(0), 'l.csv'), 'l.csv is empty');
    expectLabelsError(() => parseLabels(text('\n \n'), 'l.csv'), 'l.csv is empty');
    expectLabelsError(() => parseLabels(text('label\n'), 'l.csv'), 'l.csv has a header line but no values');
    expectLabelsError(() => parseLabels(new Uint8Array([0x31, 0xff, 0x0a]).buffer, 'l.csv'), 'l.csv is not UTF-8 text');
  });
});

describe('parseLabels: .jsonl', () => {
  it('reads numbers, booleans and objects with a label / y key', () => {
    expect(parseLabels(text('1\n0\ntrue\nfalse\n0.5\n'), 'l.jsonl')).toEqual({ values: new Float32Array([1, 0, 1, 0, 0.5]) });
    expect(parseLabels(text('{"text": "a", "label": 1}\n{"text": "b", "label": false}\n'), 'l.jsonl')).toEqual({ values: new Float32Array([1, 0]), column: 'label' });
    expect(parseLabels(text('{"y": 0}\r\n{"y": 1}'), 'L.JSONL').column).toBe('y');
  });

  it('names the line for malformed JSON, missing keys, strings, null and overflow; rejects blank lines and empty files', () => {
    expectLabelsError(() => parseLabels(text('1\n0\n{"label": 1,\n'), 'l.jsonl'), 'line 3 of l.jsonl is not valid JSON', '{"label": 1}');
    expectLabelsError(() => parseLabels(text('{"label": 1}\n{"score": 1, "x": 2}\n'), 'l.jsonl'), 'line 2 of l.jsonl is an object without a label key', '"score", "x"');
    expectLabelsError(() => parseLabels(text('{"label": "yes"}\n'), 'l.jsonl'), 'line 1 of l.jsonl, key "label", is "yes", not a number or true/false');
    expectLabelsError(() => parseLabels(text('1\nnull\n'), 'l.jsonl'), 'line 2 of l.jsonl is null, not a number or true/false');
    expectLabelsError(() => parseLabels(text('1\n1e999\n'), 'l.jsonl'), 'line 2 of l.jsonl is Infinity', 'finite');
    expectLabelsError(() => parseLabels(text('1\n\n0\n'), 'l.jsonl'), 'line 2 of l.jsonl is blank');
    expectLabelsError(() => parseLabels(text('\n'), 'l.jsonl'), 'l.jsonl is empty');
  });
});

describe('parseLabels: file types', () => {
  it('rejects an unknown or missing extension, naming the formats it reads', () => {
    expectLabelsError(() => parseLabels(text('1\n0\n'), 'labels.txt'), 'labels.txt has extension .txt', '.csv, .jsonl or .npy');
    expectLabelsError(() => parseLabels(text('1\n0\n'), 'labels'), 'labels has no extension');
  });
});

describe('checkLabelCount', () => {
  it('passes when counts agree and otherwise names both counts', () => {
    expect(() => checkLabelCount(new Float32Array(1000), 1000, 'labels.csv')).not.toThrow();
    expectLabelsError(
      () => checkLabelCount(new Float32Array(999), 1000, 'labels.csv'),
      'labels.csv has 999 values but the activations have 1,000 rows; labels must have one value per activation row',
    );
  });
});
