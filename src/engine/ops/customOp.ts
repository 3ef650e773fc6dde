// tfjs types customGrad's callback as variadic `(...inputs: Array<Tensor | GradSaveFunc>)`, which
// a function with named tensor parameters does not satisfy. This alias keeps the op files typed.
import * as tf from '@tensorflow/tfjs';

export type CustomGradientFunc<T extends tf.Tensor> = Parameters<typeof tf.customGrad<T>>[0];
