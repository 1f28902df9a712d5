/**
 * A typed event emitter (the centrifuge-js pattern): `Events` maps each event name to its
 * payload type. Listeners run synchronously in registration order; a listener that throws
 * does not stop the others and does not break the client — the error is handed to
 * `onListenerError`.
 *
 * @example
 * ```ts
 * const e = new Emitter<{ ping: { at: number } }>();
 * const off = e.on('ping', ({ at }) => console.log(at));
 * e.emit('ping', { at: Date.now() });
 * off();
 * ```
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();
  /** `once` wrappers by original listener, so `off(event, listener)` removes them too. */
  readonly #onceWrappers = new WeakMap<object, (payload: never) => void>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void = rethrowLater) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Removes a listener added with `on` or `once`. */
  off<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    set.delete(listener);
    const wrapped = this.#onceWrappers.get(listener);
    if (wrapped) set.delete(wrapped);
    if (set.size === 0) this.#listeners.delete(event);
  }

  /** Adds a listener that runs at most once; returns a function that removes it. */
  once<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    const wrapped = (payload: Events[K]) => {
      this.off(event, listener);
      listener(payload);
    };
    this.#onceWrappers.set(listener, wrapped);
    return this.on(event, wrapped);
  }

  /** Calls every listener of `event` with `payload`. */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set] as Array<(payload: Events[K]) => void>) {
      try {
        listener(payload);
      } catch (err) {
        this.#onListenerError(err);
      }
    }
  }

  /** Number of listeners of `event`. */
  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}

/** Like a DOM EventTarget: a listener's exception is reported, never thrown into the emitter. */
function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
