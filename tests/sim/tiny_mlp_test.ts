import assert from "node:assert/strict";
import { loadMnist } from "../../src/sim/mnist.ts";
import { TinyMlp } from "../../src/sim/tiny_mlp.ts";

const { train } = await loadMnist(1);

function steps(
  options: { optimizer: "sgd"; momentum: number; learningRate: number },
  rates: number[],
): number[] {
  const m = new TinyMlp({ inputs: 784, hidden: 8, classes: 10, ...options });
  const norms: number[] = [];
  for (const lr of rates) {
    m.setLearningRate(lr);
    const w0 = m.getWeights();
    m.trainBatch(train.x, train.y, 8);
    const w1 = m.getWeights();
    norms.push(Math.hypot(...w1.map((v, i) => v - w0[i])));
  }
  return norms;
}

Deno.test("TinyMlp SGD: setLearningRate() scales the step, momentum accumulates it", () => {
  const [a, b] = steps({ optimizer: "sgd", momentum: 0, learningRate: 1e-4 }, [1e-4, 3e-4]);
  assert.ok(Math.abs(b / a - 3) < 0.05, `plain SGD step ratio ${b / a}`);
  const [c, d] = steps({ optimizer: "sgd", momentum: 0.9, learningRate: 1e-4 }, [1e-4, 1e-4]);
  assert.ok(Math.abs(d / c - 1.9) < 0.05, `momentum step ratio ${d / c}`);
  assert.throws(
    () => new TinyMlp({ inputs: 4, hidden: 2, classes: 2 }).setLearningRate(0),
    /Learning rate 0/,
  );
});
