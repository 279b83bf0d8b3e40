function main(input) {
  cordon.fs.write("hello.txt", "not caught\n");
  return "unreachable";
}
