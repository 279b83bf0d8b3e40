const { AccessDenied, fs } = cordon;

function main(input) {
  const read = fs.readText("hello.txt");
  let write = "written";
  try {
    fs.write("hello.txt", "overwritten by source\n");
  } catch (err) {
    if (!(err instanceof AccessDenied)) throw err;
    write = `denied by policy [${err.policy_ids.join(", ")}]`;
  }
  return { read, write };
}
