function main(input) {
  return { hello: "world" };
}
