// A second module of js-uncaught: a frame in another file of the agent.
export function ratio(a, b) {
  if (b === 0) throw new RangeError("division by zero");
  return a / b;
}
