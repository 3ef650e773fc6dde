// Loading a dropped llama2.c model, its tokenizer and text files into a workspace.
// Turning those texts into activations is src/data/languageModel.ts; this only reads and checks
// the files, so that a model and tokenizer of different exports are refused with both names.
import { parseLlama2cCheckpoint, parseLlama2cTokenizer, type Llama2cTokenizer } from '../io/llama2c';
import { tokenizeCorpus } from './textCorpus';
import type { FileResult, SourceFile } from './types';
import { WorkspaceError, count, errorResult, type WorkspaceState } from './workspaceState';

/** The language-model files of one drop (recognised by src/data/fileRoles.ts). */
export interface LanguageModelFiles {
  model?: SourceFile;
  tokenizer?: SourceFile;
  texts: SourceFile[];
}

/** A llama2.c model, its tokenizer and texts; texts are tokenised once both are present. */
export async function loadLanguageModelFiles(ws: WorkspaceState, files: LanguageModelFiles): Promise<FileResult[]> {
  const results: FileResult[] = [];
  // Texts are tokenised again only when the model or tokenizer was replaced (a refused file changes nothing).
  let replaced = false;
  if (files.model) {
    const file = files.model;
    try {
      const checkpoint = parseLlama2cCheckpoint(new Uint8Array(await file.blob.arrayBuffer()), file.name);
      const vocabSize = checkpoint.config.vocabSize;
      if (ws.tokenizer && ws.tokenizer.tok.pieces.length < vocabSize) {
        throw new WorkspaceError(`${file.name} has a vocabulary of ${count(vocabSize)} tokens but the loaded tokenizer ${ws.tokenizer.name} has ${count(ws.tokenizer.tok.pieces.length)}; load the model and the tokenizer of the same export.`);
      }
      ws.lm?.model?.dispose();
      ws.lm = { name: file.name, checkpoint };
      replaced = true;
      const c = checkpoint.config;
      results.push({ name: file.name, kind: 'language_model', message: `language model ${file.name}: ${count(checkpoint.parameters)} parameters, d_model ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads (${c.nKvHeads} key/value), vocab ${count(c.vocabSize)}, context ${c.seqLen}` });
    } catch (e) {
      results.push(errorResult(file.name, e));
    }
  }
  if (files.tokenizer) {
    const file = files.tokenizer;
    try {
      const bytes = new Uint8Array(await file.blob.arrayBuffer());
      const vocabSize = ws.lm?.checkpoint.config.vocabSize;
      let tok: Llama2cTokenizer;
      try {
        tok = parseLlama2cTokenizer(bytes, file.name, vocabSize);
      } catch (e) {
        // A sound tokenizer of another model: say so with both names.
        let whole: Llama2cTokenizer | undefined;
        try { whole = parseLlama2cTokenizer(bytes, file.name); } catch { /* damaged: the first message says how */ }
        if (whole && vocabSize !== undefined && whole.pieces.length < vocabSize) {
          throw new WorkspaceError(`${file.name} has ${count(whole.pieces.length)} tokens but the model ${ws.lm!.name} has a vocabulary of ${count(vocabSize)}; load the tokenizer the model was trained with (the tokenizer.bin of the same export).`);
        }
        throw e;
      }
      ws.tokenizer = { name: file.name, tok };
      replaced = true;
      results.push({ name: file.name, kind: 'tokenizer', message: `tokenizer ${file.name}: ${count(tok.pieces.length)} pieces` });
    } catch (e) {
      results.push(errorResult(file.name, e));
    }
  }
  for (const file of files.texts) {
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(await file.blob.arrayBuffer());
      if (!text.trim()) throw new WorkspaceError(`${file.name} is empty; give text with one document per line, or documents separated by a line <|endoftext|>.`);
      ws.texts.set(file.name, { text });
      results.push({ name: file.name, kind: 'text', message: `text ${file.name}: ${count(text.length)} characters` });
    } catch (e) {
      const why = e instanceof TypeError ? new WorkspaceError(`${file.name} is not UTF-8 text; save it as UTF-8.`) : e;
      results.push(errorResult(file.name, why));
    }
  }
  tokenizeTexts(ws, replaced);
  for (const r of results) {
    const corpus = ws.texts.get(r.name)?.corpus;
    if (r.kind === 'text' && corpus) r.message += ` → ${count(corpus.documents.length)} documents, ${count(corpus.tokens)} tokens${corpus.truncated ? ` (${corpus.truncated} cut to the ${ws.lm!.checkpoint.config.seqLen}-token context)` : ''}`;
  }
  return results;
}

/** Tokenise the texts that are not yet (all of them when the model or tokenizer changed). */
function tokenizeTexts(ws: WorkspaceState, all: boolean): void {
  if (!ws.lm || !ws.tokenizer) return;
  for (const [name, t] of ws.texts) {
    if (t.corpus && !all) continue;
    t.corpus = tokenizeCorpus(ws.tokenizer.tok, t.text, name, ws.lm.checkpoint.config.seqLen);
  }
}
