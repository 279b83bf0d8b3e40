function main(input) {
  return { echo: input, keys: Object.keys(input.nested).sort() };
}
