// Shared test helper: a real DNS server on 127.0.0.1 (UDP, port 0) that answers A, AAAA and SRV
// queries from a zone the test edits while it runs, with per-record TTLs, and that can be switched
// to SERVFAIL or to never answering (a timeout). It owns only the test server and its wire format
// (RFC 1035 §4, RFC 2782 for SRV): no recursion, no TCP, no compression beyond the question name.
// Point a `dns.promises.Resolver` at it with `dnsServer.resolver()`.

import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';

export interface AddressRecord {
  readonly address: string;
  /** Seconds; default 300. */
  readonly ttl?: number;
}

export interface SrvRecord {
  /** The host name the SRV record points at (answered from this zone's A/AAAA records). */
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
  readonly ttl?: number;
}

/** The records one name has. A name absent from the zone answers NXDOMAIN; present, NODATA. */
export interface ZoneEntry {
  readonly A?: ReadonlyArray<string | AddressRecord>;
  readonly AAAA?: ReadonlyArray<string | AddressRecord>;
  readonly SRV?: readonly SrvRecord[];
}

/** 'answer': from the zone; 'servfail': rcode 2 to everything; 'timeout': read and drop. */
export type DnsMode = 'answer' | 'servfail' | 'timeout';

export interface TestDnsServer {
  /** The UDP port on 127.0.0.1. */
  readonly port: number;
  /** `127.0.0.1:<port>`, for `resolver.setServers([...])`. */
  readonly server: string;
  mode: DnsMode;
  /** Replaces every record of `name` (case-insensitive, no trailing dot needed). */
  set(name: string, entry: ZoneEntry): void;
  /** Removes `name`: it answers NXDOMAIN from now on. */
  delete(name: string): void;
  /** Queries received so far for `name` and `type` ('A', 'AAAA', 'SRV', …). */
  queries(name: string, type?: string): number;
  /** A resolver that asks only this server; short timeout, one try, so failures come fast. */
  resolver(options?: { timeout?: number; tries?: number }): Resolver;
  close(): Promise<void>;
}

const TYPE = { A: 1, AAAA: 28, SRV: 33 } as const;
const TYPE_NAME: Record<number, string> = { 1: 'A', 28: 'AAAA', 33: 'SRV' };
const CLASS_IN = 1;
const RCODE = { ok: 0, servfail: 2, nxdomain: 3 } as const;

function canonical(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Reads the question's name from `msg` at `offset` (uncompressed, as queries carry it). */
function readName(msg: Buffer, offset: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let at = offset;
  while (at < msg.length) {
    const length = msg[at]!;
    if (length === 0) return { name: labels.join('.'), end: at + 1 };
    if (length > 63 || at + 1 + length > msg.length) return undefined;
    labels.push(msg.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  return undefined;
}

function encodeName(name: string): Buffer {
  const parts = canonical(name)
    .split('.')
    .filter((l) => l !== '');
  return Buffer.concat([
    ...parts.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])),
    Buffer.from([0]),
  ]);
}

function ipv6Bytes(address: string): Buffer {
  // Expand "::" into the missing zero groups, then write eight 16-bit groups.
  const [head = '', tail] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = tail === undefined ? headGroups : [...headGroups, ...zeros, ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** One answer RR whose owner is the question name (a pointer to offset 12). */
function resourceRecord(type: number, ttl: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(CLASS_IN, 4);
  head.writeUInt32BE(ttl, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

function addressRecord(record: string | AddressRecord): AddressRecord {
  return typeof record === 'string' ? { address: record } : record;
}

export async function startDnsServer(): Promise<TestDnsServer> {
  const zone = new Map<string, ZoneEntry>();
  const counts = new Map<string, number>();
  let mode: DnsMode = 'answer';
  const socket = dgram.createSocket('udp4');

  function answers(name: string, qtype: number): { rcode: number; records: Buffer[] } {
    const entry = zone.get(canonical(name));
    if (!entry) return { rcode: RCODE.nxdomain, records: [] };
    const records: Buffer[] = [];
    if (qtype === TYPE.A) {
      for (const r of (entry.A ?? []).map(addressRecord)) {
        records.push(
          resourceRecord(TYPE.A, r.ttl ?? 300, Buffer.from(r.address.split('.').map(Number))),
        );
      }
    } else if (qtype === TYPE.AAAA) {
      for (const r of (entry.AAAA ?? []).map(addressRecord)) {
        records.push(resourceRecord(TYPE.AAAA, r.ttl ?? 300, ipv6Bytes(r.address)));
      }
    } else if (qtype === TYPE.SRV) {
      for (const r of entry.SRV ?? []) {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(r.priority ?? 0, 0);
        fixed.writeUInt16BE(r.weight ?? 0, 2);
        fixed.writeUInt16BE(r.port, 4);
        records.push(
          resourceRecord(TYPE.SRV, r.ttl ?? 300, Buffer.concat([fixed, encodeName(r.target)])),
        );
      }
    }
    return { rcode: RCODE.ok, records };
  }

  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    const question = readName(msg, 12);
    if (!question || question.end + 4 > msg.length) return;
    const qtype = msg.readUInt16BE(question.end);
    const key = `${canonical(question.name)} ${TYPE_NAME[qtype] ?? String(qtype)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (mode === 'timeout') return;
    const { rcode, records } =
      mode === 'servfail' ? { rcode: RCODE.servfail, records: [] } : answers(question.name, qtype);
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // the query's id
    const queryFlags = msg.readUInt16BE(2);
    // QR, the query's opcode, AA, the query's RD, RA, rcode
    header.writeUInt16BE(
      0x8000 | (queryFlags & 0x7800) | 0x0400 | (queryFlags & 0x0100) | 0x0080 | rcode,
      2,
    );
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    // The question exactly as received (name bytes, type, class).
    const reply = Buffer.concat([header, msg.subarray(12, question.end + 4), ...records]);
    socket.send(reply, peer.port, peer.address);
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const { port } = socket.address();
  let closing: Promise<void> | undefined;

  return {
    port,
    server: `127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    set mode(value: DnsMode) {
      mode = value;
    },
    set(name, entry) {
      for (const r of [...(entry.A ?? []), ...(entry.AAAA ?? [])].map(addressRecord)) {
        if (net.isIP(r.address) === 0) throw new Error(`not an IP address: ${r.address}`);
      }
      zone.set(canonical(name), entry);
    },
    delete(name) {
      zone.delete(canonical(name));
    },
    queries(name, type) {
      let total = 0;
      for (const [key, n] of counts) {
        const [qname, qtype] = key.split(' ');
        if (qname === canonical(name) && (type === undefined || qtype === type)) total += n;
      }
      return total;
    },
    resolver({ timeout = 150, tries = 1 } = {}) {
      const resolver = new Resolver({ timeout, tries });
      resolver.setServers([`127.0.0.1:${port}`]);
      return resolver;
    },
    close() {
      closing ??= new Promise<void>((resolve) => socket.close(() => resolve()));
      return closing;
    },
  };
}
