/**
 * Which address a request comes from, for the accounts' address allow-lists. The socket's
 * peer, unless that peer is a proxy the operator trusts (`server.trusted_proxies`): then
 * X-Forwarded-For is read from the right, each trusted hop handing over to the address it
 * reports, and the first address that is not a trusted proxy is the client. Anyone may
 * write X-Forwarded-For, so the header counts only as far as trusted proxies vouch for
 * it: from an untrusted peer it is ignored, and a hop that is garbage ends the walk with
 * no address (an allow-list then refuses, rather than trusting the proxy's own address).
 */
import type { IncomingHttpHeaders } from "node:http";
import { LRUCache } from "lru-cache";
import { compileCidrs, parseAddress } from "../governance/cidr.js";

export type ClientAddressOf = (peer: string | undefined, headers: IncomingHttpHeaders) => string | undefined;

/** The resolver for a list of trusted proxy ranges (validated by the config schema); none trusted = always the peer. */
export function clientAddressResolver(trustedProxies: readonly string[]): ClientAddressOf {
  const peerOnly: ClientAddressOf = (peer) => canonical(peer);
  if (trustedProxies.length === 0) return peerOnly;
  const trusted = compileCidrs(trustedProxies);
  return (peer, headers) => {
    let address = canonical(peer);
    if (address === undefined || !trusted.matches(address)) return address;
    const forwarded = headers["x-forwarded-for"];
    const hops = (Array.isArray(forwarded) ? forwarded.join(",") : (forwarded ?? "")).split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!.trim();
      if (hop === "") continue;
      address = canonical(hop);
      if (address === undefined || !trusted.matches(address)) return address;
    }
    // Every hop is a trusted proxy: the leftmost one is as close to the client as anyone vouches.
    return address;
  };
}

/**
 * Spellings already read: every request asks, and a keep-alive client asks with the same peer
 * address each time, while parsing and printing one costs microseconds. `""` marks text that is
 * not an address. Bounded, so a flood of forged X-Forwarded-For hops cannot grow it.
 */
const spellings = new LRUCache<string, string>({ max: 4096 });

/** The address in one spelling (IPv4-mapped IPv6 as IPv4), so logs and allow-lists agree; undefined when it is not an address. */
function canonical(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let spelled = spellings.get(text);
  if (spelled === undefined) {
    spelled = parseAddress(text)?.toString() ?? "";
    spellings.set(text, spelled);
  }
  return spelled === "" ? undefined : spelled;
}
