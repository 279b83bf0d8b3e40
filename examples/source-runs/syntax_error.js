function main(input) {
  let total = 0;
  for (const x of input.values) {
    total += x * ;
  }
  return total;
}
