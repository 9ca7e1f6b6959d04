/** A user's own model spec, as a newcomer would write one for a sensor (not one of the built-in models). */

/** The YAML of `sensor-mlp`: 12 features in [-10, 10], 3 classes, one hidden layer of 16. */
export const SENSOR_SPEC = `id: sensor-mlp
version: 1
description: "12 sensor features, 3 activities"
seed: 7
features: 12
range: [-10, 10]
classes: [idle, walk, run]
mlp: {hidden: [16], activation: relu}
`;
