import { describe, expect, it } from "vitest";
import { SampledLists } from "./sampled-lists.js";

describe("SampledLists", () => {
  it("keeps up to perKey entries under a key, dropping the oldest", () => {
    const lists = new SampledLists<string>(1000, (e) => e.length, 3);
    for (const e of ["a", "b", "c", "d"]) lists.add(7, lists.get(7), e);
    expect(lists.get(7)).toEqual(["b", "c", "d"]);
    expect(lists.get(8)).toBeUndefined();
  });

  it("drops the least recently used list when the sizes pass the limit, and never keeps a list bigger than it", () => {
    const lists = new SampledLists<string>(10, (e) => e.length, 4);
    lists.add(1, undefined, "xxxx");
    lists.add(2, undefined, "yyyy");
    // Reading key 1 makes key 2 the least recently used.
    expect(lists.get(1)).toEqual(["xxxx"]);
    lists.add(3, undefined, "zzzz");
    expect(lists.get(2)).toBeUndefined();
    expect(lists.get(1)).toEqual(["xxxx"]);
    lists.add(4, undefined, "w".repeat(11));
    expect(lists.get(4)).toBeUndefined();
  });
});
