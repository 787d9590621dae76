// Owns the set of upstreams: a Map by id, and the routable candidates as a frozen array that is
// rebuilt only when something changed (membership, health, an ejection starting or ending) and
// otherwise handed out as the same array, so strategies may cache what they derive from it.

import type { UpstreamConfig } from './options';
import { Upstream } from './upstream';

export class Pool {
  private readonly byId = new Map<string, Upstream>();
  private membersCache: readonly Upstream[] = Object.freeze([]);
  private candidatesCache: readonly Upstream[] | undefined;
  /** The earliest time an ejected member returns; the cache is stale from then on. */
  private nextReturnAt = Infinity;

  constructor(private readonly onMembersChanged: (members: readonly Upstream[]) => void) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Upstream | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Every member, routable or not (not the draining ones, which have left). */
  members(): readonly Upstream[] {
    return this.membersCache;
  }

  add(config: UpstreamConfig, source?: string): Upstream {
    if (this.byId.has(config.id))
      throw new Error(`upstream ${JSON.stringify(config.id)} is already in the pool`);
    const upstream = new Upstream(config.id, config.url, config.weight, source);
    this.byId.set(config.id, upstream);
    this.membershipChanged();
    return upstream;
  }

  /** Takes an upstream out: it gets no new requests; requests in flight finish on it. */
  remove(id: string): Upstream | undefined {
    const upstream = this.byId.get(id);
    if (!upstream) return undefined;
    upstream.draining = true;
    this.byId.delete(id);
    this.membershipChanged();
    return upstream;
  }

  /** Health or ejection changed: rebuild the candidates on next use. */
  invalidate(): void {
    this.candidatesCache = undefined;
  }

  candidates(now: number): readonly Upstream[] {
    if (this.candidatesCache !== undefined && now < this.nextReturnAt) return this.candidatesCache;
    const routable: Upstream[] = [];
    let nextReturnAt = Infinity;
    for (const upstream of this.membersCache) {
      if (upstream.isRoutable(now)) routable.push(upstream);
      else if (upstream.ejectedUntil > now && upstream.ejectedUntil < nextReturnAt)
        nextReturnAt = upstream.ejectedUntil;
    }
    this.nextReturnAt = nextReturnAt;
    this.candidatesCache = Object.freeze(routable);
    return this.candidatesCache;
  }

  private membershipChanged(): void {
    this.membersCache = Object.freeze([...this.byId.values()]);
    this.candidatesCache = undefined;
    this.onMembersChanged(this.membersCache);
  }
}
