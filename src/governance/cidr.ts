/**
 * IP address ranges (CIDR) for account allow-lists and trusted proxies, on ipaddr.js.
 *
 * One rule keeps IPv4 and IPv6 from talking past each other: an IPv4-mapped IPv6
 * address (`::ffff:10.1.2.3`, which is how a dual-stack socket reports an IPv4 peer) is
 * read as the IPv4 address it carries, and so is an IPv4-mapped range
 * (`::ffff:10.0.0.0/104` is `10.0.0.0/8`). A range written either way therefore matches
 * a client that connects either way.
 */
import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** One range: an address and how many leading bits of it are fixed. */
export interface CidrRange {
  readonly address: Address;
  readonly bits: number;
  /** The range as written, for messages. */
  readonly text: string;
}

/** Reads one address, IPv4-mapped IPv6 as IPv4; undefined when it is not an address. */
export function parseAddress(text: string): Address | undefined {
  // ipaddr.js reads "10" or "0x0a000001" as IPv4 too; an allow-list wants dotted quads.
  if (!ipaddr.IPv4.isValidFourPartDecimal(text) && !ipaddr.IPv6.isValid(text)) return undefined;
  try {
    return ipaddr.process(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads `a.b.c.d/n`, `x::y/n`, or a lone address (a range of one). Returns the reason
 * when the text is not a range, for the validation message.
 */
export function parseCidr(text: string): CidrRange | string {
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const address = parseAddress(addressText);
  if (!address) return `'${text}' is not an IPv4 or IPv6 address or CIDR range`;
  const mapped = address.kind() === "ipv4" && addressText.includes(":");
  const max = address.kind() === "ipv4" ? 32 : 128;
  if (slash === -1) return { address, bits: max, text };
  const bitsText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return `'${text}': the prefix length after '/' must be a number`;
  let bits = Number(bitsText);
  // An IPv4-mapped range counts its prefix over 128 bits, the first 96 being the mapping.
  if (mapped) {
    if (bits < 96 || bits > 128) return `'${text}': an IPv4-mapped range needs a prefix length between 96 and 128`;
    bits -= 96;
  }
  if (bits > max) return `'${text}': the prefix length is at most ${max} for ${address.kind() === "ipv4" ? "IPv4" : "IPv6"}`;
  return { address, bits, text };
}

/** Whether `range` holds `address` (both already IPv4-mapped-normalised). */
function holds(range: CidrRange, address: Address): boolean {
  return range.address.kind() === address.kind() && address.match(range.address, range.bits);
}

/** Whether every address of `inner` lies in `outer`. */
export function rangeWithin(inner: CidrRange, outer: CidrRange): boolean {
  return inner.bits >= outer.bits && holds(outer, inner.address);
}

/** A compiled list of ranges. */
export interface CidrMatcher {
  readonly ranges: readonly CidrRange[];
  /** Whether the address (as a socket or X-Forwarded-For reports it) lies in one of the ranges; false for anything that is not an address. */
  matches(address: string): boolean;
  /** Whether an already parsed address lies in one of the ranges. */
  matchesParsed(address: Address): boolean;
  /** Whether every address of the range lies in one of the ranges. */
  covers(range: CidrRange): boolean;
}

/** Compiles ranges; entries that do not parse are left out (validate with {@link parseCidr} first). */
export function compileCidrs(texts: readonly string[]): CidrMatcher {
  const ranges: CidrRange[] = [];
  for (const t of texts) {
    const r = parseCidr(t);
    if (typeof r !== "string") ranges.push(r);
  }
  const matchesParsed = (address: Address): boolean => ranges.some((r) => holds(r, address));
  return {
    ranges,
    matchesParsed,
    matches(address: string): boolean {
      const parsed = parseAddress(address);
      return parsed !== undefined && matchesParsed(parsed);
    },
    covers: (range) => ranges.some((r) => rangeWithin(range, r)),
  };
}
