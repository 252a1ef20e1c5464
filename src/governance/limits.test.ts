import { describe, expect, it } from "vitest";
import { MemoryCounters } from "./counters-memory.js";
import { runLimitsContract } from "./limits-contract.js";
import { limitHeader, limitKey } from "./limits.js";

runLimitsContract("memory", (now) => new MemoryCounters({ now }));

describe("limit keys and headers", () => {
  it("keys of one chain share the root's hash tag (one Redis Cluster slot)", () => {
    expect(limitKey("root", "tpm", { accountId: "kid" }, "gpt-*")).toBe("{root}:tpm:kid:model:gpt-*");
    expect(limitKey("root", "rpm", { keyId: "k" })).toBe("{root}:rpm:key:k");
  });

  it("x-switchyard-limit percent-encodes names and patterns, so any account name fits in a header", () => {
    expect(limitHeader({ field: "rpm", limit: 10, scope: "account", accountName: "Équipe; R&D" })).toBe(
      "rpm=10; account=%C3%89quipe%3B%20R%26D; scope=account",
    );
    expect(limitHeader({ field: "tpm", limit: 5, scope: "model:gpt 5*", accountName: "a" })).toBe("tpm=5; account=a; scope=model:gpt%205*");
  });
});
