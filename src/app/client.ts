// The page's side of the worker protocol, as the UI imports it: every command it sends and the engine's life.
// The page sends typed messages to the engine worker and turns its replies into store updates;
// the work is split by topic: the worker's life, backend and reply dispatch
// (src/app/clientEngine.ts), data loading (clientData.ts), the run (clientRun.ts), the feature
// browser (clientFeatures.ts), exports and downloads (clientExports.ts), splices and the imported
// SAE (clientSplice.ts), all sending through clientLink.ts. It runs in the page (src/app is app
// code, like src/ui and src/store, which it may import; src/worker may not import it).
export { engineMemory, restartEngine, setBackendPreference, startEngine } from './clientEngine';
export { extractActivations, loadFile, loadFiles, loadSample, previewLabels, reloadFile } from './clientData';
export { describeSource, discardAutosave, pause, reset, resume, resumeRun, stop, train, updateLive } from './clientRun';
export { browseFeatures, inspectLatent, requestLatentContexts } from './clientFeatures';
export { exportCheckpoint, exportContexts, exportDashboard, exportDataset, exportRun, requestRunWeights } from './clientExports';
export { browseImported, continueImported, evaluateImported, spliceEvaluate } from './clientSplice';
