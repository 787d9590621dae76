// Tests dns() as a source, against a real DNS server on 127.0.0.1 (test/helpers/dns-server.ts):
// the upstream URLs it answers (host replaced by each address, IPv6 in brackets, base path and
// port kept), TTLs, families, SRV (priority, ports, weights), empty answers versus failures, IP
// literals, the resolver it accepts, and its option errors.

import * as nodeDns from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { dns, type DnsResolver } from '../../../src/discovery/dns';
import type { DiscoveryResult, DiscoverySource } from '../../../src/discovery/discovery-source';
import { OptionsError } from '../../../src/errors';
import { startDnsServer, type TestDnsServer } from '../../helpers/dns-server';

let server: TestDnsServer;
let resolver: Resolver;

beforeAll(async () => {
  server = await startDnsServer();
  resolver = server.resolver();
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.mode = 'answer';
});

function ask(source: DiscoverySource): Promise<DiscoveryResult> {
  return source.resolve({ signal: new AbortController().signal });
}

const urls = (result: DiscoveryResult): unknown[] =>
  result.upstreams.map((u) => (typeof u === 'string' ? u : u.url));

describe('A and AAAA', () => {
  test('one upstream per address: the source URL with the host replaced', async () => {
    server.set('users.a.test', {
      A: [
        { address: '127.0.0.2', ttl: 30 },
        { address: '127.0.0.3', ttl: 12 },
      ],
      AAAA: [{ address: '::1', ttl: 60 }],
    });
    const source = dns('http://users.a.test:8080/v1', { resolver });
    expect(source.name).toBe('dns:http://users.a.test:8080/v1');
    expect(source.originHost).toBe('users.a.test:8080');
    expect(source.interval).toBe(10_000);
    const result = await ask(source);
    expect(urls(result)).toEqual([
      'http://127.0.0.2:8080/v1',
      'http://127.0.0.3:8080/v1',
      'http://[::1]:8080/v1',
    ]);
    expect(result.ttlMs).toBe(12_000); // the smallest TTL
    expect(result.authoritative).toBe(false);
  });

  test('family 4 asks only for A records, family 6 only for AAAA', async () => {
    server.set('fam.test', { A: ['127.0.0.2'], AAAA: ['::1'] });
    const before = { a: server.queries('fam.test', 'A'), aaaa: server.queries('fam.test', 'AAAA') };
    expect(urls(await ask(dns('http://fam.test', { resolver, family: 4 })))).toEqual([
      'http://127.0.0.2/',
    ]);
    expect(urls(await ask(dns('http://fam.test', { resolver, family: 6 })))).toEqual([
      'http://[::1]/',
    ]);
    expect(server.queries('fam.test', 'A') - before.a).toBe(1);
    expect(server.queries('fam.test', 'AAAA') - before.aaaa).toBe(1);
  });

  test('a name with only A records answers them (no AAAA is not a failure)', async () => {
    server.set('v4only.test', { A: ['127.0.0.4'] });
    expect(urls(await ask(dns('https://v4only.test', { resolver })))).toEqual([
      'https://127.0.0.4/',
    ]);
  });

  test('NXDOMAIN and NODATA are an empty answer, authoritative only when asked', async () => {
    server.set('empty.test', {});
    const nodata = await ask(dns('http://empty.test:81', { resolver }));
    expect(nodata).toEqual({ upstreams: [], ttlMs: undefined, authoritative: false });
    const nx = await ask(dns('http://absent.test:81', { resolver, authoritative: true }));
    expect(nx.upstreams).toEqual([]);
    expect(nx.authoritative).toBe(true);
  });

  test.each([
    { mode: 'servfail' as const, code: 'ESERVFAIL' },
    { mode: 'timeout' as const, code: 'ETIMEOUT' },
  ])('$mode fails the refresh ($code)', async ({ mode, code }) => {
    server.set('flaky.test', { A: ['127.0.0.2'] });
    server.mode = mode;
    await expect(ask(dns('http://flaky.test', { resolver }))).rejects.toMatchObject({ code });
  });
});

describe('SRV', () => {
  test('the lowest priority wins; each target gets the record port and weight', async () => {
    server.set('_http._tcp.svc.test', {
      SRV: [
        { target: 'a.svc.test', port: 3001, priority: 10, weight: 5, ttl: 20 },
        { target: 'b.svc.test', port: 3002, priority: 10, weight: 0 },
        { target: 'a.svc.test', port: 3001, priority: 10, weight: 9 }, // duplicate: first wins
        { target: 'backup.svc.test', port: 3009, priority: 20, weight: 1 },
      ],
    });
    server.set('a.svc.test', { A: [{ address: '127.0.0.2', ttl: 7 }] });
    server.set('b.svc.test', { A: ['127.0.0.3'], AAAA: ['::1'] });
    server.set('backup.svc.test', { A: ['127.0.0.9'] });
    const source = dns('http://_http._tcp.svc.test:9999/base', { resolver, srv: true });
    expect(source.name).toBe('dns-srv:http://_http._tcp.svc.test:9999/base');
    const result = await ask(source);
    expect(result.upstreams).toEqual([
      { url: 'http://127.0.0.2:3001/base', weight: 5 },
      { url: 'http://127.0.0.3:3002/base', weight: 1 },
      { url: 'http://[::1]:3002/base', weight: 1 },
    ]);
    expect(result.ttlMs).toBe(7000);
    expect(server.queries('backup.svc.test')).toBe(0);
  });

  test('an SRV name that does not exist is an empty answer; SERVFAIL fails', async () => {
    expect((await ask(dns('http://_x._tcp.none.test', { resolver, srv: true }))).upstreams).toEqual(
      [],
    );
    server.set('_http._tcp.sf.test', { SRV: [{ target: 'a.svc.test', port: 1 }] });
    server.mode = 'servfail';
    await expect(
      ask(dns('http://_http._tcp.sf.test', { resolver, srv: true })),
    ).rejects.toMatchObject({ code: 'ESERVFAIL' });
  });
});

describe('IP literals and resolvers', () => {
  test('a host that is already an IP is one upstream, without a DNS query', async () => {
    const explode = (): never => {
      throw new Error('no query expected');
    };
    const noQueries: DnsResolver = { resolve4: explode, resolve6: explode, resolveSrv: explode };
    expect(urls(await ask(dns('http://127.0.0.1:3000', { resolver: noQueries })))).toEqual([
      'http://127.0.0.1:3000/',
    ]);
    const v6 = dns('http://[::1]:3000', { resolver: noQueries });
    expect(v6.originHost).toBe('[::1]:3000');
    expect(urls(await ask(v6))).toEqual(['http://[::1]:3000/']);
  });

  test('any object with resolve4/resolve6 will do, and dns.promises itself type-checks', async () => {
    const own: DnsResolver = {
      resolve4: () => Promise.resolve([{ address: '127.0.0.7', ttl: 5 }]),
      resolve6: () => Promise.reject(Object.assign(new Error('none'), { code: 'ENODATA' })),
      resolveSrv: () => Promise.resolve([]),
    };
    const result = await ask(dns('http://own.test:1', { resolver: own }));
    expect(result).toEqual({
      upstreams: [{ url: 'http://127.0.0.7:1/' }],
      ttlMs: 5000,
      authoritative: false,
    });
    // Compile-time: Node's resolvers satisfy DnsResolver.
    const fromModule: DnsResolver = nodeDns.promises;
    const fromClass: DnsResolver = new Resolver();
    expect(typeof fromModule.resolve4 === typeof fromClass.resolve4).toBe(true);
  });
});

describe('options are checked at the call', () => {
  test.each([
    { url: 'users.test', options: undefined, message: /dns\(url\) must be an http/ },
    { url: 'ftp://users.test', options: undefined, message: /dns\(url\)/ },
    {
      url: 'http://u.test',
      options: { interval: 0 },
      message: /dns\(\)\.interval must be a positive/,
    },
    { url: 'http://u.test', options: { intreval: 5 }, message: /did you mean dns\(\)\.interval\?/ },
    { url: 'http://u.test', options: { family: 5 }, message: /dns\(\)\.family must be 0, 4 or 6/ },
    {
      url: 'http://u.test',
      options: { srv: 'yes' },
      message: /dns\(\)\.srv must be true or false/,
    },
    { url: 'http://u.test', options: { resolver: {} }, message: /dns\(\)\.resolver must be/ },
    {
      url: 'http://u.test',
      options: { srv: true, resolver: { resolve4() {}, resolve6() {} } },
      message: /resolveSrv/,
    },
    {
      url: 'http://10.0.0.1',
      options: { srv: true },
      message: /dns\(\)\.srv must be used with a host name/,
    },
    { url: 'http://u.test', options: 'fast', message: /dns\(\) must be an options object/ },
  ])('$url $options', ({ url, options, message }) => {
    const call = (): unknown => dns(url, options as never);
    expect(call).toThrow(OptionsError);
    expect(call).toThrow(message);
  });
});
