// What the workbench needs of a tokenizer, whichever file it came from (a llama2.c tokenizer.bin
// in ./llama2c.ts, a Hugging Face tokenizer.json in ./hfTokenizer.ts): text → ids with or without
// BOS, ids → text, and each id's piece for display.

export interface TextTokenizer {
  kind: 'llama2c' | 'huggingface';
  /** Token id → the piece as text for display (byte-level and SentencePiece markers decoded). */
  display: string[];
  /** The id put first with `bos: true`. */
  bosId: number | null;
  encode(text: string, opts?: { bos?: boolean }): Int32Array;
  decode(ids: ArrayLike<number>): string;
}
