import { describe, expect, it } from "vitest";
import { clientAddressResolver } from "./client-address.js";

describe("clientAddressResolver", () => {
  it("without trusted proxies, is the socket's peer (IPv4-mapped read as IPv4), whatever X-Forwarded-For says", () => {
    const of = clientAddressResolver([]);
    expect(of("::ffff:203.0.113.9", { "x-forwarded-for": "10.0.0.1" })).toBe("203.0.113.9");
    expect(of("2001:db8::1", {})).toBe("2001:db8::1");
    expect(of(undefined, {})).toBeUndefined();
  });

  it("from a trusted proxy, walks X-Forwarded-For from the right to the first hop that is not a trusted proxy", () => {
    const of = clientAddressResolver(["10.0.0.0/8", "fd00::/8"]);
    expect(of("10.0.0.2", { "x-forwarded-for": "198.51.100.4" })).toBe("198.51.100.4");
    expect(of("::ffff:10.0.0.2", { "x-forwarded-for": "198.51.100.4, 10.0.0.3" })).toBe("198.51.100.4");
    // A client's own claim, left of the first untrusted hop, is not believed.
    expect(of("10.0.0.2", { "x-forwarded-for": "10.9.9.9, 198.51.100.4" })).toBe("198.51.100.4");
    expect(of("fd00::1", { "x-forwarded-for": "2001:db8::5" })).toBe("2001:db8::5");
    // Several headers arrive joined.
    expect(of("10.0.0.2", { "x-forwarded-for": ["198.51.100.4", "10.0.0.7"] as unknown as string })).toBe("198.51.100.4");
    // No header: the proxy itself is the peer.
    expect(of("10.0.0.2", {})).toBe("10.0.0.2");
    // Every hop a trusted proxy: the leftmost is as near the client as anyone vouches.
    expect(of("10.0.0.2", { "x-forwarded-for": "10.0.0.5, 10.0.0.4" })).toBe("10.0.0.5");
  });

  it("leaves the client unknown when a trusted hop reports something that is not an address", () => {
    const of = clientAddressResolver(["10.0.0.0/8"]);
    expect(of("10.0.0.2", { "x-forwarded-for": "198.51.100.4, unknown" })).toBeUndefined();
  });

  it("ignores the header from a peer outside the trusted ranges", () => {
    const of = clientAddressResolver(["10.0.0.0/8"]);
    expect(of("203.0.113.9", { "x-forwarded-for": "10.0.0.1" })).toBe("203.0.113.9");
  });
});
