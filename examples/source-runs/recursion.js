function f(n) {
  return f(n + 1);
}

function main(input) {
  return f(0);
}
