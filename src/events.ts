// Owns the balancer's event names and payloads, and a typed face over node:events.
// Listeners run synchronously; one that throws is caught, so user code cannot break a request.

import { EventEmitter } from 'node:events';
import type { HealthState } from './upstream';

export interface BalancerEvents {
  health: { upstream: string; from: HealthState; to: HealthState; reason: string };
  eject: { upstream: string; ms: number; reason: string };
  proxyError: { upstream: string; error: Error };
  retry: { from: string; to: string; error: Error };
  storeError: { error: Error };
  discoveryError: { source: string; error: Error };
}

export type BalancerEventName = keyof BalancerEvents;
export type BalancerListener<E extends BalancerEventName> = (event: BalancerEvents[E]) => void;

export class BalancerEmitter {
  private readonly emitter = new EventEmitter();

  on<E extends BalancerEventName>(event: E, listener: BalancerListener<E>): void {
    this.emitter.on(event, listener);
  }

  once<E extends BalancerEventName>(event: E, listener: BalancerListener<E>): void {
    this.emitter.once(event, listener);
  }

  off<E extends BalancerEventName>(event: E, listener: BalancerListener<E>): void {
    this.emitter.off(event, listener);
  }

  emit<E extends BalancerEventName>(event: E, payload: BalancerEvents[E]): void {
    if (this.emitter.listenerCount(event) === 0) return;
    try {
      this.emitter.emit(event, payload);
    } catch {
      // A listener's bug must not turn into a failed request or a crash.
    }
  }
}
