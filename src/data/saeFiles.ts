// Importing a dropped SAELens directory (or its zip) into a workspace.
// The files may arrive one by one or in a zip (src/data/fileRoles.ts opens it); the SAE is checked
// against the loaded activations, so that one trained on another layer is refused when dropped.
import { importSaeLens, type ImportedSae } from './saeImport';
import type { FileResult, SourceFile } from './types';
import { WorkspaceError, count, errorResult, type WorkspaceState } from './workspaceState';

/** The SAELens files of one drop (recognised by src/data/fileRoles.ts). */
export interface SaeFiles {
  cfg?: SourceFile;
  weights?: SourceFile;
  sparsity?: SourceFile;
  runConfig?: SourceFile;
  /** sae_weights.safetensors was dropped but could not be indexed (it already has its message). */
  weightsFailed?: boolean;
}

/**
 * Import the SAE of `sae` when any of its files was dropped, pushing its one result (what was
 * imported, or what is missing or wrong); the SAE is kept in the workspace and returned.
 */
export async function importSaeFiles(ws: WorkspaceState, sae: SaeFiles, origins: Map<SourceFile, string>, results: FileResult[]): Promise<ImportedSae | undefined> {
  let imported: ImportedSae | undefined;
  // Weights that failed to index already have their message (no second one about the lonely cfg.json).
  if ((sae.cfg || sae.weights) && !(sae.weightsFailed && !sae.weights)) {
    const first = (sae.weights ?? sae.cfg)!;
    const zip = origins.get(first);
    const name = zip ?? first.name;
    try {
      if (!sae.cfg) throw new WorkspaceError(`${sae.weights!.name} holds SAE weights; drop its cfg.json with it (the SAELens directory's two files, or its zip).`);
      if (!sae.weights) throw new WorkspaceError(`${sae.cfg.name} is a SAELens config; drop sae_weights.safetensors with it (the directory's files, or its zip).`);
      imported = importSaeLens({
        cfg: await sae.cfg.blob.arrayBuffer(),
        weights: await sae.weights.blob.arrayBuffer(),
        sparsity: sae.sparsity ? await sae.sparsity.blob.arrayBuffer() : undefined,
        runConfig: sae.runConfig ? await sae.runConfig.blob.arrayBuffer() : undefined,
      });
      // Matched to the activations loaded (not to the built-in sample, a placeholder).
      const ds = ws.dataset;
      if (ds && !ds.groundTruth && imported.info.dIn !== ds.dIn) {
        const dIn = imported.info.dIn;
        imported = undefined;
        throw new WorkspaceError(`the SAE takes d_in ${dIn} but the loaded activations ${ds.name} have rows of width ${ds.dIn}; load activations of the layer it was trained on first, or drop them together with the SAE.`);
      }
      ws.imported = imported;
      const i = imported.info;
      results.push({ name, kind: 'sae', message: `imported SAE: ${i.saelensArchitecture} d_in ${i.dIn} → d_sae ${count(i.dSae)} (${i.tensors.map((t) => t.name).join(', ')})` });
    } catch (e) {
      // The SAE's name in front (the zip's is added later for every file that came out of it).
      const r = errorResult(name, e);
      if (!zip && !r.message.startsWith(name)) r.message = `${name}: ${r.message}`;
      results.push(r);
    }
  }
  return imported;
}
