import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileCidrs, parseCidr, rangeWithin, type CidrRange } from "./cidr.js";

const range = (text: string): CidrRange => {
  const r = parseCidr(text);
  if (typeof r === "string") throw new Error(r);
  return r;
};

describe("parseCidr", () => {
  it("reads IPv4 and IPv6 ranges and lone addresses", () => {
    expect(range("10.0.0.0/8")).toMatchObject({ bits: 8 });
    expect(range("2001:db8::/32")).toMatchObject({ bits: 32 });
    expect(range("203.0.113.7")).toMatchObject({ bits: 32 });
    expect(range("::1")).toMatchObject({ bits: 128 });
  });

  it("reads an IPv4-mapped IPv6 range as the IPv4 range it carries", () => {
    const r = range("::ffff:10.0.0.0/104");
    expect(r.address.kind()).toBe("ipv4");
    expect(r.bits).toBe(8);
    expect(range("::ffff:10.1.2.3").address.toString()).toBe("10.1.2.3");
  });

  it("explains what is wrong with what is not a range", () => {
    expect(parseCidr("10.0.0.0/33")).toMatch(/at most 32/);
    expect(parseCidr("2001:db8::/129")).toMatch(/at most 128/);
    expect(parseCidr("10.0.0.0/x")).toMatch(/must be a number/);
    expect(parseCidr("example.com")).toMatch(/not an IPv4 or IPv6 address/);
    // ipaddr.js would read these as IPv4; an allow-list wants what people write.
    expect(parseCidr("10")).toMatch(/not an IPv4/);
    expect(parseCidr("0x0a000001")).toMatch(/not an IPv4/);
    expect(parseCidr("::ffff:10.0.0.0/90")).toMatch(/between 96 and 128/);
  });
});

describe("compileCidrs", () => {
  const m = compileCidrs(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]);

  it("matches IPv4, IPv6 and IPv4-mapped IPv6 clients", () => {
    expect(m.matches("10.255.0.1")).toBe(true);
    expect(m.matches("::ffff:10.1.2.3")).toBe(true);
    expect(m.matches("2001:db8:1::5")).toBe(true);
    expect(m.matches("192.0.2.7")).toBe(true);
    expect(m.matches("192.0.2.8")).toBe(false);
    expect(m.matches("11.0.0.1")).toBe(false);
    expect(m.matches("2001:db9::1")).toBe(false);
    expect(m.matches("garbage")).toBe(false);
  });

  it("covers a range exactly when the range lies inside one of its own", () => {
    expect(m.covers(range("10.1.0.0/16"))).toBe(true);
    expect(m.covers(range("::ffff:10.1.0.0/112"))).toBe(true);
    expect(m.covers(range("0.0.0.0/0"))).toBe(false);
    expect(m.covers(range("192.0.2.0/24"))).toBe(false);
    expect(m.covers(range("2001:db8::/31"))).toBe(false);
  });

  it("judges containment like membership: a range lies within another iff every address of it matches", () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const v4 = fc.tuple(octet, octet, octet, octet, fc.integer({ min: 0, max: 32 })).map(([a, b, c, d, bits]) => `${a}.${b}.${c}.${d}/${bits}`);
    fc.assert(
      fc.property(v4, v4, (innerText, outerText) => {
        const inner = range(innerText);
        const outer = range(outerText);
        const within = rangeWithin(inner, outer);
        // The first and last address of the inner range decide it.
        const bytes = inner.address.toByteArray();
        const first = bytes.map((b, i) => b & mask(inner.bits, i)).join(".");
        const last = bytes.map((b, i) => (b | ~mask(inner.bits, i)) & 255).join(".");
        const one = compileCidrs([outerText]);
        expect(within).toBe(one.matches(first) && one.matches(last) && inner.bits >= outer.bits);
      }),
      { numRuns: 500 },
    );
  });
});

/** The mask byte `i` of a /bits prefix. */
function mask(bits: number, i: number): number {
  const n = Math.max(0, Math.min(8, bits - i * 8));
  return (0xff << (8 - n)) & 0xff;
}
