/**
 * The building blocks the models are made of: layer norm and the dense layer (fused matMul + bias +
 * activation, with a hand-written gradient where tfjs' own is slow). Only functional tfjs-core ops.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Layer norm over the last axis, epsilon 1e-5. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta);
}

/** Which gradients a {@linkcode dense} layer must produce. */
export type DenseGrads = "none" | "params" | "all";

/**
 * Which gradient dense layers train with: ours (`true`), tfjs' own (`false`), or `"auto"`: ours except
 * on the cpu backend, where the explicit transposes cost more than they save (`deno task bench:model`
 * compares both in one run: wasm 1.7×/1.65× faster for MLP/ViT, cpu 0.87×/1.05×).
 */
export const denseOptions: { customGradient: boolean | "auto" } = { customGradient: "auto" };

/**
 * `act(x · kernel + bias)` in one fused kernel. While training, with a hand-written gradient: tfjs'
 * own gradient of matMul uses `transposeA`/`transposeB`, which tfjs-wasm runs on a slow path
 * (measured 8× slower for dW = xᵀ·dy than an explicit transpose followed by a plain matMul), and it
 * always computes dx, which the first layer does not need.
 */
export function dense(
  x: tf.Tensor2D,
  kernel: tf.Tensor,
  bias: tf.Tensor,
  activation: "relu" | "linear" | "sigmoid" = "linear",
  grads: DenseGrads = "none",
): tf.Tensor2D {
  const custom = denseOptions.customGradient === "auto"
    ? tf.getBackend() !== "cpu"
    : denseOptions.customGradient;
  if (grads === "none" || activation === "sigmoid" || !custom) {
    return tf.fused.matMul({ a: x, b: kernel as tf.Tensor2D, bias, activation }) as tf.Tensor2D;
  }
  return DENSE[activation][grads](x, kernel, bias) as tf.Tensor2D;
}

function denseWithGradient(activation: "relu" | "linear", inputGradient: boolean) {
  // tf.customGrad passes the inputs and then the save function as one variadic list.
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, kernel, bias] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const y = tf.fused.matMul({ a: x as tf.Tensor2D, b: kernel as tf.Tensor2D, bias, activation });
    save([x, kernel, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, k, ys] = saved;
        const dz = activation === "relu" ? tf.mul(dy, tf.step(ys)) : dy;
        const dx = inputGradient
          ? tf.matMul(dz as tf.Tensor2D, tf.transpose(k) as tf.Tensor2D)
          : tf.zerosLike(xs);
        return [dx, tf.matMul(tf.transpose(xs) as tf.Tensor2D, dz as tf.Tensor2D), tf.sum(dz, 0)];
      },
    };
  });
}

const DENSE = {
  relu: { params: denseWithGradient("relu", false), all: denseWithGradient("relu", true) },
  linear: { params: denseWithGradient("linear", false), all: denseWithGradient("linear", true) },
};
