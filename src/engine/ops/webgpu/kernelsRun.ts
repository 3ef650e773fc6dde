// For the checks that the fused kernels really run (and only where they should): the names of
// the kernels a function dispatches, by intercepting the tfjs engine's runKernel.
import * as tf from '@tensorflow/tfjs';

/** The names of the kernels `f` runs, in order. */
export function kernelsRun(f: () => void): string[] {
  const engine = tf.engine() as unknown as { runKernel: (name: string, ...rest: unknown[]) => unknown };
  const original = engine.runKernel;
  const names: string[] = [];
  engine.runKernel = function (this: unknown, name: string, ...rest: unknown[]) {
    names.push(name);
    return original.call(this, name, ...rest);
  };
  try {
    f();
  } finally {
    engine.runKernel = original;
  }
  return names;
}
