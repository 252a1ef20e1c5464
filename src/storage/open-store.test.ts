import path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveDatabaseLocation } from "./open-store.js";
import { StoreError } from "./ports.js";

describe("resolveDatabaseLocation", () => {
  const dataDir = "/var/lib/switchyard";
  const defaultFile = { kind: "sqlite", file: "/var/lib/switchyard/switchyard.db" };

  it("defaults to the SQLite file in the data directory", () => {
    expect(resolveDatabaseLocation(undefined, dataDir)).toEqual(defaultFile);
    expect(resolveDatabaseLocation("", dataDir)).toEqual(defaultFile);
    expect(resolveDatabaseLocation("  ", dataDir)).toEqual(defaultFile);
    expect(resolveDatabaseLocation("sqlite:", dataDir)).toEqual(defaultFile);
    expect(resolveDatabaseLocation("file:", dataDir)).toEqual(defaultFile);
  });

  it("accepts sqlite: and file: paths", () => {
    expect(resolveDatabaseLocation("sqlite:///srv/db/sy.db", dataDir)).toEqual({
      kind: "sqlite",
      file: "/srv/db/sy.db",
    });
    expect(resolveDatabaseLocation("sqlite:/srv/sy.db", dataDir)).toEqual({ kind: "sqlite", file: "/srv/sy.db" });
    expect(resolveDatabaseLocation("sqlite:rel/sy.db", dataDir)).toEqual({
      kind: "sqlite",
      file: path.resolve("rel/sy.db"),
    });
    expect(resolveDatabaseLocation("sqlite::memory:", dataDir)).toEqual({ kind: "sqlite", file: ":memory:" });
    expect(resolveDatabaseLocation("file:///srv/a%20b.db", dataDir)).toEqual({ kind: "sqlite", file: "/srv/a b.db" });
    expect(resolveDatabaseLocation("file:sy.db", dataDir)).toEqual({ kind: "sqlite", file: path.resolve("sy.db") });
  });

  it("passes PostgreSQL URLs through", () => {
    for (const url of ["postgres://u:p@db:5432/sy", "postgresql://db/sy?sslmode=require", "POSTGRES://db/sy"]) {
      expect(resolveDatabaseLocation(url, dataDir)).toEqual({ kind: "postgres", url });
    }
  });

  it("rejects other schemes without echoing credentials", () => {
    for (const url of ["mysql://root:hunter2@db/sy", "/plain/path.db", "redis://x"]) {
      let error: unknown;
      try {
        resolveDatabaseLocation(url, dataDir);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe("invalid");
      expect((error as StoreError).message).not.toContain("hunter2");
    }
  });
});
