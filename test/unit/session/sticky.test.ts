// Checks Sticky, the request-path side of sticky sessions, with fake requests (plain objects with
// headers and socket): reading pins from cookies, Set-Cookie decisions and attributes, stripping
// the cookie before forwarding, and store mode with healthy, throwing, rejecting and hanging stores.
// Real HTTP is the integration tests' job. Time is a ManualClock; store timeouts use fake timers.

import type { IncomingMessage } from 'node:http';
import { parseSetCookie } from 'cookie';
import { ManualClock } from '../../../src/clock';
import type { StickyConfig } from '../../../src/options';
import { CookieCodec } from '../../../src/session/cookie-codec';
import { MemorySessionStore } from '../../../src/session/memory-session-store';
import type { SessionStore } from '../../../src/session/session-store';
import {
  DEFAULT_STORE_TTL,
  SessionStoreTimeoutError,
  Sticky,
  type StickyInternals,
  type StickyPin,
} from '../../../src/session/sticky';

const A = 'http://127.0.0.1:3001';
const B = 'http://127.0.0.1:3002';
const C = 'http://10.1.2.3:8080';
const MEMBERS = [A, B, C];
const START = 1_750_000_000_000;

function config(overrides: Partial<StickyConfig> = {}): StickyConfig {
  return {
    cookie: 'lb',
    ttl: undefined,
    secrets: [],
    path: '/',
    domain: undefined,
    secure: 'auto',
    sameSite: 'lax',
    httpOnly: true,
    store: undefined,
    ...overrides,
  };
}

interface FakeReqOptions {
  cookie?: string;
  secure?: boolean;
  encrypted?: boolean;
}

function req({ cookie, secure, encrypted }: FakeReqOptions = {}): IncomingMessage {
  const fake: Record<string, unknown> = {
    headers: cookie === undefined ? {} : { cookie },
    socket: encrypted === undefined ? {} : { encrypted },
  };
  if (secure !== undefined) fake.secure = secure;
  return fake as unknown as IncomingMessage;
}

/** The cookie a browser would send back for a Set-Cookie header value. */
function cookieFrom(setCookie: string): string {
  return setCookie.split(';')[0]!;
}

function valueOf(setCookie: string): string {
  return cookieFrom(setCookie).slice(cookieFrom(setCookie).indexOf('=') + 1);
}

const errors: Error[] = [];
const closers: Array<() => unknown> = [];

function make(
  overrides: Partial<StickyConfig> = {},
  internals: StickyInternals = {},
): { sticky: Sticky; clock: ManualClock } {
  const clock = new ManualClock(START);
  const sticky = new Sticky(
    config(overrides),
    { onStoreError: (e) => errors.push(e) },
    { clock, ...internals },
  );
  sticky.onMembersChanged(MEMBERS);
  closers.push(() => sticky.close());
  return { sticky, clock };
}

/** resolve() in cookie mode must be synchronous: the hot path makes no promise. */
function resolveSync(sticky: Sticky, request: IncomingMessage): StickyPin {
  const pin = sticky.resolve(request);
  if (pin instanceof Promise) throw new Error('resolve() returned a promise in cookie mode');
  return pin;
}

beforeEach(() => {
  errors.length = 0;
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  jest.useRealTimers();
  // Jest 30 fails the running test on an unhandled rejection: give any stray one time to surface
  // while this test is still the one running.
  await new Promise((resolve) => setImmediate(resolve));
});

describe('Sticky, cookie mode', () => {
  test('no cookie: no pin; commit issues a cookie that pins the next request', () => {
    const { sticky } = make();
    const first = resolveSync(sticky, req());
    expect(first.upstreamId).toBeUndefined();
    const setCookie = sticky.commit(req(), first, B);
    expect(setCookie).toBeDefined();
    const second = resolveSync(sticky, req({ cookie: cookieFrom(setCookie!) }));
    expect(second.upstreamId).toBe(B);
    // The client's cookie is already right: no Set-Cookie on every response.
    expect(sticky.commit(req(), second, B)).toBeUndefined();
  });

  test('a pinned request sent elsewhere (pin not routable) gets a replacement cookie', () => {
    const { sticky } = make();
    const cookie = cookieFrom(sticky.commit(req(), resolveSync(sticky, req()), A)!);
    const pin = resolveSync(sticky, req({ cookie }));
    const replaced = sticky.commit(req(), pin, C);
    expect(replaced).toBeDefined();
    expect(resolveSync(sticky, req({ cookie: cookieFrom(replaced!) })).upstreamId).toBe(C);
  });

  test('the value never reveals an upstream address and needs no quoting', () => {
    const { sticky } = make({ secrets: ['k'], ttl: 60_000 });
    for (const id of MEMBERS) {
      const value = valueOf(sticky.commit(req(), resolveSync(sticky, req()), id)!);
      expect(value).toMatch(/^[A-Za-z0-9_.-]+$/);
      // Whole addresses and schemes: a short digit run could occur in base64 by chance.
      expect(value).not.toMatch(/127\.0\.0\.1|10\.1\.2\.3|:300|https?:/);
    }
  });

  test('independent instances without a secret agree on the cookie', () => {
    const one = make().sticky;
    const two = make().sticky;
    const cookie = cookieFrom(one.commit(req(), resolveSync(one, req()), C)!);
    expect(resolveSync(two, req({ cookie })).upstreamId).toBe(C);
  });

  describe('bad cookies are absent, never an error', () => {
    const secrets = ['current'];
    const ttl = 60_000;
    const cases: Array<[string, (sticky: Sticky, clock: ManualClock) => string]> = [
      ['malformed', () => 'lb=%%%not*a*value'],
      ['empty', () => 'lb='],
      ['name only', () => 'lb'],
      ['huge', () => `lb=${'A'.repeat(100_000)}`],
      [
        'unknown token',
        () => {
          const codec = new CookieCodec(secrets);
          return `lb=${codec.encode('upstream', codec.upstreamToken('http://not-a-member:1'), START + ttl)}`;
        },
      ],
      [
        'expired',
        (sticky, clock) => {
          const cookie = cookieFrom(sticky.commit(req(), resolveSync(sticky, req()), A)!);
          clock.advance(ttl);
          return cookie;
        },
      ],
      [
        'forged (signature of another value)',
        (sticky) => {
          const a = valueOf(sticky.commit(req(), resolveSync(sticky, req()), A)!);
          const b = valueOf(sticky.commit(req(), resolveSync(sticky, req()), B)!);
          return `lb=${b.slice(0, b.lastIndexOf('.'))}${a.slice(a.lastIndexOf('.'))}`;
        },
      ],
      [
        'unsigned while secrets are set',
        () => {
          const codec = new CookieCodec([]);
          return `lb=${codec.encode('upstream', codec.upstreamToken(A), START + ttl)}`;
        },
      ],
      [
        'signed with another secret',
        () => {
          const codec = new CookieCodec(['other']);
          return `lb=${codec.encode('upstream', codec.upstreamToken(A), START + ttl)}`;
        },
      ],
    ];

    test.each(cases)('%s', (_name, makeCookie) => {
      const { sticky, clock } = make({ secrets, ttl });
      const cookie = makeCookie(sticky, clock);
      const pin = resolveSync(sticky, req({ cookie }));
      expect(pin.upstreamId).toBeUndefined();
      // Balanced normally, and the response carries a fresh cookie.
      const setCookie = sticky.commit(req({ cookie }), pin, B);
      expect(resolveSync(sticky, req({ cookie: cookieFrom(setCookie!) })).upstreamId).toBe(B);
    });
  });

  test('a cookie for a removed upstream is absent; re-adding it restores the pin', () => {
    const { sticky } = make();
    const cookie = cookieFrom(sticky.commit(req(), resolveSync(sticky, req()), C)!);
    sticky.onMembersChanged([A, B]);
    expect(resolveSync(sticky, req({ cookie })).upstreamId).toBeUndefined();
    sticky.onMembersChanged([A, B, C]);
    expect(resolveSync(sticky, req({ cookie })).upstreamId).toBe(C);
  });

  test('every occurrence counts: the first valid one wins over stale duplicates', () => {
    const { sticky } = make({ secrets: ['k'] });
    const value = valueOf(sticky.commit(req(), resolveSync(sticky, req()), B)!);
    const pin = resolveSync(sticky, req({ cookie: `a=1; lb=stale; lb = ${value} ; b=2` }));
    expect(pin.upstreamId).toBe(B);
  });

  test('other cookies that merely contain the name do not count', () => {
    const { sticky } = make();
    const value = valueOf(sticky.commit(req(), resolveSync(sticky, req()), B)!);
    expect(
      resolveSync(sticky, req({ cookie: `xlb=${value}; lbx=${value}` })).upstreamId,
    ).toBeUndefined();
  });

  test('rolling expiry: re-issued once more than half the ttl has elapsed', () => {
    const { sticky, clock } = make({ ttl: 10_000, secrets: ['k'] });
    const cookie = cookieFrom(sticky.commit(req(), resolveSync(sticky, req()), A)!);
    clock.advance(5_000);
    const early = resolveSync(sticky, req({ cookie }));
    expect(early.upstreamId).toBe(A);
    expect(sticky.commit(req(), early, A)).toBeUndefined();
    clock.advance(1);
    const late = resolveSync(sticky, req({ cookie }));
    expect(late.upstreamId).toBe(A);
    const renewed = sticky.commit(req(), late, A);
    expect(renewed).toBeDefined();
    clock.advance(5_000); // the first cookie has expired, the renewed one has not
    expect(resolveSync(sticky, req({ cookie })).upstreamId).toBeUndefined();
    expect(resolveSync(sticky, req({ cookie: cookieFrom(renewed!) })).upstreamId).toBe(A);
  });

  test('rotation: an old-secret cookie pins and is re-issued under the new secret', () => {
    const old = make({ secrets: ['old'] }).sticky;
    const cookie = cookieFrom(old.commit(req(), resolveSync(old, req()), B)!);

    const rotated = make({ secrets: ['new', 'old'] }).sticky;
    const pin = resolveSync(rotated, req({ cookie }));
    expect(pin.upstreamId).toBe(B);
    const reissued = rotated.commit(req(), pin, B);
    expect(reissued).toBeDefined();

    const retired = make({ secrets: ['new'] }).sticky;
    expect(resolveSync(retired, req({ cookie })).upstreamId).toBeUndefined();
    expect(resolveSync(retired, req({ cookie: cookieFrom(reissued!) })).upstreamId).toBe(B);
  });

  test('configuration changes: a ttl-less cookie is absent once ttl is set; the reverse is re-issued', () => {
    const noTtl = make().sticky;
    const plain = cookieFrom(noTtl.commit(req(), resolveSync(noTtl, req()), A)!);
    const withTtl = make({ ttl: 60_000 }).sticky;
    expect(resolveSync(withTtl, req({ cookie: plain })).upstreamId).toBeUndefined();

    const expiring = cookieFrom(withTtl.commit(req(), resolveSync(withTtl, req()), A)!);
    const pin = resolveSync(noTtl, req({ cookie: expiring }));
    expect(pin.upstreamId).toBe(A);
    expect(noTtl.commit(req(), pin, A)).not.toMatch(/Max-Age/);
  });

  test('garbage Cookie headers never throw', () => {
    const { sticky } = make({ secrets: ['k'], ttl: 1_000 });
    for (const cookie of [
      '',
      ';',
      '=;=',
      'lb',
      'lb=;lb=;',
      ';;lb==;;',
      '\u0000lb=\u00ff',
      'lb=a.b.c.d.e',
    ]) {
      expect(resolveSync(sticky, req({ cookie })).upstreamId).toBeUndefined();
    }
    const weird = {
      headers: { cookie: ['lb=x'] },
      socket: undefined,
    } as unknown as IncomingMessage;
    expect(resolveSync(sticky, weird).upstreamId).toBeUndefined();
  });
});

describe('Set-Cookie attributes', () => {
  function issue(overrides: Partial<StickyConfig>, request: IncomingMessage = req()): string {
    const { sticky } = make(overrides);
    return sticky.commit(request, resolveSync(sticky, request), A)!;
  }

  test('defaults: Path=/, HttpOnly, SameSite=Lax, no Max-Age, no Secure over plain HTTP', () => {
    const setCookie = issue({});
    expect(setCookie).toMatch(/^lb=[A-Za-z0-9_.-]+; Path=\/; HttpOnly; SameSite=Lax$/);
  });

  test('every option shows up', () => {
    const parsed = parseSetCookie(
      issue({
        cookie: 'route',
        ttl: 3_600_500,
        path: '/api',
        domain: 'example.com',
        secure: true,
        sameSite: 'strict',
        httpOnly: false,
      }),
    );
    expect(parsed).toEqual(
      expect.objectContaining({
        name: 'route',
        maxAge: 3600, // ttl / 1000, floored
        path: '/api',
        domain: 'example.com',
        secure: true,
        sameSite: 'strict',
      }),
    );
    expect(parsed.httpOnly).toBeFalsy();
  });

  test('a sub-second ttl still gives Max-Age=1, never 0 (which would delete the cookie)', () => {
    expect(issue({ ttl: 500 })).toMatch(/; Max-Age=1;/);
  });

  test('secure: false never sets Secure, even over TLS', () => {
    expect(issue({ secure: false }, req({ secure: true, encrypted: true }))).not.toMatch(/Secure/);
  });

  test("sameSite 'none' forces Secure: browsers drop SameSite=None cookies without it", () => {
    const setCookie = issue({ sameSite: 'none', secure: false });
    expect(setCookie).toMatch(/; Secure; SameSite=None$/);
  });

  test.each([
    ['Express req.secure true', { secure: true }, true],
    ['Express req.secure false wins over the socket', { secure: false, encrypted: true }, false],
    ['no req.secure, TLS socket', { encrypted: true }, true],
    ['no req.secure, plain socket', { encrypted: false }, false],
    ['no req.secure, no socket info', {}, false],
  ])("secure 'auto': %s", (_name, options: FakeReqOptions, secure) => {
    const setCookie = issue({ secure: 'auto' }, req(options));
    expect(/; Secure/.test(setCookie)).toBe(secure);
  });

  test('a domain or path the cookie serializer refuses fails at construction, naming the option', () => {
    expect(() => make({ domain: '-bad-.example.com' })).toThrow(/sticky\.domain/);
    expect(() => make({ path: '/é' })).toThrow(/sticky\.path/);
  });
});

describe('stripCookie', () => {
  const { sticky } = (() => {
    const clock = new ManualClock(START);
    return { sticky: new Sticky(config(), { onStoreError: () => {} }, { clock }) };
  })();

  test.each([
    [undefined, undefined],
    ['', undefined],
    ['lb=abc', undefined],
    ['lb=abc; lb=def', undefined],
    ['lb=abc;', undefined],
    [' lb=abc ;; ', undefined],
    ['a=1', 'a=1'],
    ['a=1; lb=abc', 'a=1'],
    ['lb=abc; a=1', 'a=1'],
    ['a=1; lb=abc; b=2', 'a=1; b=2'],
    ['a=1;lb=abc;b=2', 'a=1;b=2'],
    ['a=1; lb=x; b="quoted; c=%20enc; lb=y; d=', 'a=1; b="quoted; c=%20enc; d='],
    ['a=1;  b = spaced ; lb=1', 'a=1;  b = spaced '],
    ['xlb=1; lbx=2; lb=3', 'xlb=1; lbx=2'],
    ['LB=1; lb=2', 'LB=1'],
    ['a=1; lb', 'a=1; lb'],
    ['lb =1; a=1', 'a=1'],
    ['a=1; \tlb\t=1', 'a=1'],
    ['a=x=y; lb=z=w', 'a=x=y'],
  ])('%p → %p', (header, expected) => {
    expect(sticky.stripCookie(header)).toBe(expected);
  });

  test('a header without the cookie is returned as the same string', () => {
    const header = 'session=abc; theme=dark';
    expect(sticky.stripCookie(header)).toBe(header);
  });

  test('never throws on garbage', () => {
    for (const header of [
      ';;;',
      '=',
      '==lb==',
      'lb=\u0000',
      '\u00ff\u0100lb=1',
      'lb'.repeat(10_000),
    ]) {
      expect(() => sticky.stripCookie(header)).not.toThrow();
    }
    expect(() => sticky.stripCookie(42 as unknown as string)).not.toThrow();
  });
});

describe('Sticky, store mode', () => {
  function memory(): MemorySessionStore {
    const store = new MemorySessionStore();
    closers.push(() => store.close());
    return store;
  }

  async function roundTrip(sticky: Sticky, cookie: string | undefined, upstreamId: string) {
    const pin = await sticky.resolve(req(cookie === undefined ? {} : { cookie }));
    const setCookie = sticky.commit(req(), pin, upstreamId);
    return { pin, setCookie };
  }

  test('a new client gets a random session id, stored against its upstream', async () => {
    const store = memory();
    const { sticky } = make({ store, secrets: ['k'] });
    const { pin, setCookie } = await roundTrip(sticky, undefined, B);
    expect(pin.upstreamId).toBeUndefined();
    const value = valueOf(setCookie!);
    const sessionId = value.split('.')[0]!;
    expect(sessionId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(store.get(sessionId)).toBe(B);
    expect(value).not.toMatch(/127\.0\.0\.1|:3002|https?:/);
  });

  test('a known session pins; keeping it touches the store and sends no cookie', async () => {
    const store = memory();
    const touch = jest.spyOn(store, 'touch');
    const { sticky } = make({ store, ttl: 60_000 });
    const cookie = cookieFrom((await roundTrip(sticky, undefined, A)).setCookie!);
    const pin = sticky.resolve(req({ cookie }));
    // A synchronous store answers synchronously.
    expect(pin).not.toBeInstanceOf(Promise);
    expect((pin as StickyPin).upstreamId).toBe(A);
    expect(sticky.commit(req(), pin as StickyPin, A)).toBeUndefined();
    expect(touch).toHaveBeenCalledWith(cookieFrom(cookie).split('=')[1]!.split('.')[0], 60_000);
  });

  test('a rerouted session updates the store and keeps its cookie', async () => {
    const store = memory();
    const { sticky } = make({ store });
    const first = await roundTrip(sticky, undefined, A);
    const cookie = cookieFrom(first.setCookie!);
    const sessionId = valueOf(first.setCookie!);
    const { pin, setCookie } = await roundTrip(sticky, cookie, C);
    expect(pin.upstreamId).toBe(A);
    expect(setCookie).toBeUndefined();
    expect(store.get(sessionId)).toBe(C);
  });

  test('a valid cookie whose session the store forgot is re-stored under the same id', async () => {
    const store = memory();
    const { sticky } = make({ store });
    const first = await roundTrip(sticky, undefined, A);
    const sessionId = valueOf(first.setCookie!);
    store.delete(sessionId);
    const { pin, setCookie } = await roundTrip(sticky, cookieFrom(first.setCookie!), B);
    expect(pin.upstreamId).toBeUndefined();
    expect(setCookie).toBeUndefined();
    expect(store.get(sessionId)).toBe(B);
  });

  test('without ttl: a session cookie, and the store keeps the session 24 h', async () => {
    const set = jest.fn();
    const store: SessionStore = { get: () => undefined, set, delete: () => {} };
    const { sticky } = make({ store });
    const { setCookie } = await roundTrip(sticky, undefined, A);
    expect(setCookie).not.toMatch(/Max-Age|Expires/);
    expect(set).toHaveBeenCalledWith(expect.any(String), A, DEFAULT_STORE_TTL);
    expect(DEFAULT_STORE_TTL).toBe(24 * 60 * 60 * 1000);
  });

  test('a store without touch() gets set() to slide the ttl', async () => {
    const sessions = new Map<string, string>();
    const set = jest.fn((id: string, upstream: string) => void sessions.set(id, upstream));
    const store: SessionStore = { get: (id) => sessions.get(id), set, delete: () => {} };
    const { sticky } = make({ store, ttl: 5_000 });
    const cookie = cookieFrom((await roundTrip(sticky, undefined, A)).setCookie!);
    await roundTrip(sticky, cookie, A);
    expect(set).toHaveBeenCalledTimes(2);
    expect(set).toHaveBeenLastCalledWith(expect.any(String), A, 5_000);
  });

  test('an asynchronous store: resolve gives a promise of the pin', async () => {
    const inner = memory();
    const store: SessionStore = {
      get: (id) => Promise.resolve(inner.get(id)),
      set: (id, upstream, ttl) => Promise.resolve(inner.set(id, upstream, ttl)),
      touch: (id, ttl) => Promise.resolve(inner.touch(id, ttl)),
      delete: (id) => Promise.resolve(inner.delete(id)),
    };
    const { sticky } = make({ store, secrets: ['k'] });
    const cookie = cookieFrom((await roundTrip(sticky, undefined, C)).setCookie!);
    const pending = sticky.resolve(req({ cookie }));
    expect(pending).toBeInstanceOf(Promise);
    expect((await pending).upstreamId).toBe(C);
  });

  test('bad cookies never reach the store', async () => {
    const get = jest.fn();
    const store: SessionStore = { get, set: () => {}, delete: () => {} };
    const { sticky } = make({ store, secrets: ['k'], ttl: 1_000 });
    for (const cookie of ['lb=', 'lb=garbage', `lb=${'A'.repeat(24)}`, `lb=${'A'.repeat(5_000)}`]) {
      expect((await sticky.resolve(req({ cookie }))).upstreamId).toBeUndefined();
    }
    expect(get).not.toHaveBeenCalled();
  });

  test('expired store cookies are absent without asking the store', async () => {
    const store = memory();
    const get = jest.spyOn(store, 'get');
    const { sticky, clock } = make({ store, ttl: 1_000 });
    const cookie = cookieFrom((await roundTrip(sticky, undefined, A)).setCookie!);
    clock.advance(1_000);
    expect((await sticky.resolve(req({ cookie }))).upstreamId).toBeUndefined();
    expect(get).not.toHaveBeenCalled();
  });

  test('a store answering something other than a string knows no session', async () => {
    const store: SessionStore = {
      get: () => 42 as unknown as string,
      set: () => {},
      delete: () => {},
    };
    const { sticky } = make({ store });
    const cookie = cookieFrom((await roundTrip(sticky, undefined, A)).setCookie!);
    expect((await sticky.resolve(req({ cookie }))).upstreamId).toBeUndefined();
    expect(errors).toEqual([]);
  });

  describe('failing stores: absent, onStoreError, never a throw or an unhandled rejection', () => {
    /** A cookie for a session that a working store would know. */
    async function validCookie(overrides: Partial<StickyConfig> = {}): Promise<string> {
      // A timer-free map store: these tests switch to fake timers afterwards.
      const sessions = new Map<string, string>();
      const store: SessionStore = {
        get: (id) => sessions.get(id),
        set: (id, upstream) => void sessions.set(id, upstream),
        delete: (id) => void sessions.delete(id),
      };
      const { sticky } = make({ store, ...overrides });
      return cookieFrom((await roundTrip(sticky, undefined, A)).setCookie!);
    }

    test('get throws synchronously: absent at once, and commit writes nothing', async () => {
      const set = jest.fn();
      const store: SessionStore = {
        get: () => {
          throw new Error('boom');
        },
        set,
        delete: () => {},
      };
      const cookie = await validCookie();
      const { sticky } = make({ store });
      const pin = sticky.resolve(req({ cookie }));
      expect(pin).not.toBeInstanceOf(Promise);
      expect((pin as StickyPin).upstreamId).toBeUndefined();
      expect(errors.map((e) => e.message)).toEqual(['boom']);
      // The store could not be read for this request: do not overwrite what it may hold.
      expect(sticky.commit(req(), pin as StickyPin, B)).toBeUndefined();
      expect(set).not.toHaveBeenCalled();
    });

    test('get rejects: absent, reported once', async () => {
      const store: SessionStore = {
        get: () => Promise.reject(new Error('down')),
        set: () => {},
        delete: () => {},
      };
      const cookie = await validCookie();
      const { sticky } = make({ store });
      const pin = await sticky.resolve(req({ cookie }));
      expect(pin.upstreamId).toBeUndefined();
      expect(errors.map((e) => e.message)).toEqual(['down']);
    });

    test('get rejects with a non-Error: reported as an Error', async () => {
      const store: SessionStore = {
        // A sloppy store may reject with anything.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        get: () => Promise.reject('just a string'),
        set: () => {},
        delete: () => {},
      };
      const cookie = await validCookie();
      const { sticky } = make({ store });
      expect((await sticky.resolve(req({ cookie }))).upstreamId).toBeUndefined();
      expect(errors[0]).toBeInstanceOf(Error);
      expect(errors[0]!.message).toMatch(/just a string/);
    });

    test('a thenable whose then() throws: absent, reported', async () => {
      const store: SessionStore = {
        get: () =>
          ({
            then() {
              throw new Error('bad thenable');
            },
          }) as unknown as Promise<string>,
        set: () => {},
        delete: () => {},
      };
      const cookie = await validCookie();
      const { sticky } = make({ store });
      expect((await sticky.resolve(req({ cookie }))).upstreamId).toBeUndefined();
      expect(errors.map((e) => e.message)).toEqual(['bad thenable']);
    });

    test('get hangs: absent after the default 1000 ms, reported as a timeout; a late answer is ignored', async () => {
      let answer: (value: string) => void = () => {};
      const store: SessionStore = {
        get: () => new Promise<string>((resolve) => (answer = resolve)),
        set: () => {},
        delete: () => {},
      };
      const cookie = await validCookie();
      jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
      const { sticky } = make({ store });
      let settled: StickyPin | undefined;
      void (sticky.resolve(req({ cookie })) as Promise<StickyPin>).then((pin) => (settled = pin));
      await jest.advanceTimersByTimeAsync(999);
      expect(settled).toBeUndefined();
      await jest.advanceTimersByTimeAsync(1);
      expect(settled?.upstreamId).toBeUndefined();
      expect(settled?.storeFailed).toBe(true);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(SessionStoreTimeoutError);
      answer(A);
      await Promise.resolve();
      expect(errors).toHaveLength(1);
      expect(jest.getTimerCount()).toBe(0);
    });

    test('the store timeout is configurable', async () => {
      const store: SessionStore = {
        get: () => new Promise<string>(() => {}),
        set: () => {},
        delete: () => {},
      };
      const cookie = await validCookie();
      jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
      const { sticky } = make({ store }, { storeTimeoutMs: 50 });
      const pending = sticky.resolve(req({ cookie }));
      await jest.advanceTimersByTimeAsync(50);
      expect((await pending).upstreamId).toBeUndefined();
      expect(errors[0]!.message).toMatch(/50 ms/);
    });

    test('close() settles hanging lookups at once and clears their timers', async () => {
      const store: SessionStore = {
        get: () => new Promise<string>(() => {}),
        set: () => {},
        delete: () => {},
      };
      const cookie = await validCookie();
      jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
      const { sticky } = make({ store });
      const pending = sticky.resolve(req({ cookie }));
      expect(jest.getTimerCount()).toBe(1);
      sticky.close();
      expect((await pending).upstreamId).toBeUndefined();
      expect(jest.getTimerCount()).toBe(0);
      expect(errors).toEqual([]);
    });

    test.each([
      [
        'throws',
        () => {
          throw new Error('write failed');
        },
      ],
      ['rejects', () => Promise.reject(new Error('write failed'))],
    ])('set/touch %s: the cookie is still issued and the error reported', async (_name, fail) => {
      const store: SessionStore = {
        get: () => undefined,
        set: fail,
        touch: fail,
        delete: () => {},
      };
      const { sticky } = make({ store });
      const { setCookie } = await roundTrip(sticky, undefined, A);
      expect(setCookie).toBeDefined();
      const pin: StickyPin = {
        upstreamId: A,
        sessionId: 'A'.repeat(24),
        current: true,
        storeFailed: false,
      };
      expect(sticky.commit(req(), pin, A)).toBeUndefined(); // touch path
      await new Promise((resolve) => setImmediate(resolve));
      expect(errors.map((e) => e.message)).toEqual(['write failed', 'write failed']);
    });

    test('a throwing onStoreError listener cannot break the request path', async () => {
      const store: SessionStore = {
        get: () => Promise.reject(new Error('down')),
        set: () => Promise.reject(new Error('down')),
        delete: () => {},
      };
      const cookie = await validCookie();
      const sticky = new Sticky(config({ store }), {
        onStoreError: () => {
          throw new Error('listener bug');
        },
      });
      closers.push(() => sticky.close());
      const pin = await sticky.resolve(req({ cookie }));
      expect(pin.upstreamId).toBeUndefined();
      expect(() => sticky.commit(req(), { ...pin, sessionId: undefined }, A)).not.toThrow();
    });
  });
});

describe('hostile headers', () => {
  test('a long header of =-less segments is handled, correctly', () => {
    const { sticky } = make({ secrets: ['k'] });
    const value = valueOf(sticky.commit(req(), resolveSync(sticky, req()), B)!);
    const header = `${';'.repeat(16 * 1024)}a=1;lb=${value}`;
    expect(resolveSync(sticky, req({ cookie: header })).upstreamId).toBe(B);
    expect(sticky.stripCookie(header)).toBe(`${';'.repeat(16 * 1024)}a=1`);
  });
});
