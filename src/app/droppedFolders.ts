// Dropped or picked folders as files: a Hugging Face model folder (config.json, the .safetensors,
// tokenizer.json) or a SAELens SAE directory arrives as its files, each named with its path inside
// the drop ("gpt2/config.json"), so that the workspace can tell which folder a file came from.
// Renaming wraps the File (new File([file], name)): the bytes are not read or copied.

/** A File under another name (same bytes, same type). */
function renamed(file: File, name: string): File {
  return name === file.name ? file : new File([file], name, { type: file.type, lastModified: file.lastModified });
}

/** Files of a folder picker (<input webkitdirectory>), named by their path in the folder. */
export function pickedFolderFiles(list: FileList | File[]): File[] {
  return Array.from(list).map((f) => renamed(f, (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name));
}

/**
 * Files of a drop with its folders walked. The entries must be taken during the drop event (the
 * DataTransfer is emptied after it), so call this synchronously in the handler and await the result.
 */
export function droppedFiles(dt: DataTransfer): Promise<File[]> {
  const entries = Array.from(dt.items ?? [])
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.() ?? null);
  const plain = Array.from(dt.files ?? []);
  // Browsers without entries: the files as given (folders cannot be read then).
  if (entries.length === 0 || entries.some((e) => e === null)) return Promise.resolve(plain);
  return Promise.all(entries.map((e) => walk(e!))).then((lists) => lists.flat());
}

async function walk(entry: FileSystemEntry): Promise<File[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [renamed(file, entry.fullPath.replace(/^\//, ''))];
  }
  if (!entry.isDirectory) return [];
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: FileSystemEntry[] = [];
  // readEntries returns the folder in batches (100 at a time in Chromium) until an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    children.push(...batch);
  }
  return (await Promise.all(children.map(walk))).flat();
}
