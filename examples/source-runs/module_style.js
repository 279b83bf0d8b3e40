// Written as an ES module for the SDK: the runner rewrites the import and the export in place.
import { AccessDenied, fs as files } from "cordon";

export function main(input) {
  try {
    files.write("hello.txt", "overwritten by source\n");
    return "written";
  } catch (err) {
    if (err instanceof AccessDenied) return { denied: err.toJSON() };
    throw err;
  }
}
