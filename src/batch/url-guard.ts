import { lookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';
import { ImgclassError } from '../util/errors.js';

/** A host name's addresses, as the system resolver gives them (tests inject their own). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>;

const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/**
 * What a worker may fetch. By default only public unicast addresses: anyone who can enqueue a job
 * must not make the worker probe loopback, the LAN or the cloud metadata service.
 */
export interface UrlPolicy {
  /** Host names (or address literals, as the URL writes them) fetched whatever they resolve to: `--allow-url-host`. */
  allowHosts?: readonly string[];
  /** Fetch any address at all: `--allow-private-urls`, for a deployer whose images live on the private network. */
  allowPrivate?: boolean;
  resolve?: Resolver;
}

/** A URL checked for one hop: the connection must go to `address`, the one that was checked. */
export interface CheckedUrl {
  url: URL;
  address: string;
  family: 4 | 6;
}

/** A URL that policy forbids: a final error line (never retried), saying why. */
export function refused(url: string, why: string): ImgclassError {
  return new ImgclassError('URL_REFUSED', `refused ${url}: ${why} (see --allow-url-host / --allow-private-urls)`);
}

/**
 * Why an address is not public, or null when it is. ipaddr.js names the special ranges (loopback,
 * private, linkLocal, uniqueLocal, carrierGradeNat, multicast, unspecified, broadcast, reserved,
 * rfc6052 = NAT64, 6to4, teredo, …); only plain `unicast` is public. An IPv4-mapped IPv6 address
 * (::ffff:127.0.0.1) is judged as the IPv4 address it carries.
 */
export function nonPublicReason(address: string): string | null {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address);
  } catch {
    return `"${address}" is not an IP address`;
  }
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
    const inner = (ip as ipaddr.IPv6).toIPv4Address();
    const why = nonPublicReason(inner.toString());
    return why && `IPv4-mapped ${why}`;
  }
  const range = ip.range();
  // ::a.b.c.d (IPv4-compatible, deprecated) is "unicast" to ipaddr.js but carries an IPv4 address
  if (range === 'unicast' && ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0))
    return `${ip.toString()} is an IPv4-compatible IPv6 address`;
  if (range === 'unicast') return null;
  return `${ip.toString()} is a ${RANGE_NAMES[range] ?? range} address`;
}

const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  private: 'private (RFC 1918)',
  linkLocal: 'link-local',
  uniqueLocal: 'unique-local',
  carrierGradeNat: 'carrier-grade NAT',
  multicast: 'multicast',
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  reserved: 'reserved',
  rfc6052: 'NAT64 (64:ff9b::/96)',
  rfc6145: 'IPv4-translated',
  '6to4': '6to4',
  teredo: 'Teredo',
  benchmarking: 'benchmarking',
  discard: 'discard-only',
};

/**
 * Check one URL before it is fetched: http(s) only; its host resolved once, every address it
 * resolves to public (or the host allowed). The WHATWG parser has already turned decimal, octal
 * and hex hosts (http://2130706433/, http://0177.1/, http://0x7f.0.0.1/) into dotted IPv4, and
 * IPv6 literals into their canonical form, so each is judged as the address it really is.
 */
export async function checkUrl(raw: string | URL, policy: UrlPolicy = {}): Promise<CheckedUrl> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ImgclassError('FETCH_FAILED', `not a valid URL: ${String(raw)}`);
  }
  const shown = url.href;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refused(shown, `only http and https URLs are fetched, not ${url.protocol}`);
  if (url.username || url.password) throw refused(shown, 'URLs with credentials are not fetched');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const allowed = policy.allowPrivate === true || hostAllowed(url.hostname, policy.allowHosts);
  let addresses: { address: string; family: 4 | 6 }[];
  if (net.isIP(host)) addresses = [{ address: host, family: net.isIPv6(host) ? 6 : 4 }];
  else {
    try {
      addresses = await (policy.resolve ?? systemResolver)(host);
    } catch (e) {
      const code = (e as { code?: string }).code;
      // no such name is final; a resolver that failed to answer may answer later
      if (code === 'ENOTFOUND' || code === 'ENODATA') throw new ImgclassError('FETCH_FAILED', `GET ${shown}: no address for ${host}`);
      throw e;
    }
    if (!addresses.length) throw new ImgclassError('FETCH_FAILED', `GET ${shown}: no address for ${host}`);
  }
  if (!allowed) {
    // every address must be public: a name with one public and one private address could be sent to either
    for (const a of addresses) {
      const why = nonPublicReason(a.address);
      if (why) throw refused(shown, host === a.address ? why : `${host} resolves to ${why}`);
    }
  }
  return { url, address: addresses[0]!.address, family: addresses[0]!.family };
}

function hostAllowed(hostname: string, allow: readonly string[] | undefined): boolean {
  if (!allow?.length) return false;
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return allow.some((a) => {
    const want = a.toLowerCase().replace(/\.$/, '');
    // compare address literals in the URL parser's canonical form ([::1], 127.0.0.1)
    if (net.isIPv6(want)) return h === `[${ipaddr.parse(want).toString()}]`;
    return h === want;
  });
}

/**
 * An undici dispatcher whose every connection goes to the checked address, whatever the name
 * resolves to by then: the request is never resolved twice, so DNS rebinding between the check
 * and the connection cannot move it. TLS still verifies the certificate for the URL's host name.
 */
export function pinnedAgent(checked: CheckedUrl): Agent {
  const pinned = (_host: string, options: LookupOptions, cb: (...args: unknown[]) => void) => {
    if (options.all) cb(null, [{ address: checked.address, family: checked.family } satisfies LookupAddress]);
    else cb(null, checked.address, checked.family);
  };
  return new Agent({ connect: { lookup: pinned as unknown as net.LookupFunction }, connections: 1, pipelining: 0 });
}
