function run(input) {
  return "the runner calls main, not run";
}
