// js-uncaught: fails on purpose, the way its input says, to show what a run's report says when
// an agent's own code throws and does not catch (see README.md).
import { ratio } from "./helper.js";

export async function run(input) {
  switch (input && input.do) {
    case "throw":
      return ratio(input.n ?? 1, 0);
    case "fetch": {
      const response = await fetch("https://example.com/");
      return response.status;
    }
    case "xhr":
      return new XMLHttpRequest();
    default:
      return "nothing asked";
  }
}
