// For the checks that the fused kernels really run (and only where they should): the names of
// the kernels a function dispatches, by intercepting the tfjs engine's runKernel.
import * as tf from '@tensorflow/tfjs';

/** The names of the kernels `f` runs, in order. */
export function kernelsRun(f: () => void): string[] {
  const { names, restore } = intercept();
  try {
    f();
  } finally {
    restore();
  }
  return names;
}

/** The same for an asynchronous `f`: the interception is kept over its awaits. */
export async function kernelsRunAsync(f: () => Promise<void>): Promise<string[]> {
  const { names, restore } = intercept();
  try {
    await f();
  } finally {
    restore();
  }
  return names;
}

/** Route the engine's runKernel through a recorder of the names; `restore` puts it back. */
function intercept(): { names: string[]; restore: () => void } {
  const engine = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
  const original = engine.runKernel;
  const names: string[] = [];
  engine.runKernel = function (this: unknown, name: string, ...rest: unknown[]) {
    names.push(name);
    return original.call(this, name, ...rest);
  };
  return { names, restore: () => { engine.runKernel = original; } };
}
