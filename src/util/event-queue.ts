/**
 * A bounded queue the engine pushes typed events into and a consumer pulls from with
 * `for await`. The engine never waits on it and runs no consumer code. When the consumer falls
 * behind by more than `capacity` events, the oldest droppable event (telemetry: pieces, peers,
 * warnings) is dropped and counted; events pushed as not droppable (lifecycle) are never dropped
 * (there are only a handful of them per session, so the bound still holds).
 */
export class EventQueue<T> implements AsyncIterable<T> {
  private readonly items: { item: T; droppable: boolean }[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private ended = false;
  dropped = 0;

  constructor(private readonly capacity = 1000) {}

  push(item: T, droppable = true): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: item, done: false });
      return;
    }
    this.items.push({ item, droppable });
    if (this.items.length > this.capacity) {
      const i = this.items.findIndex((e) => e.droppable);
      if (i >= 0) {
        this.items.splice(i, 1);
        this.dropped++;
      }
    }
  }

  end(): void {
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: (): Promise<IteratorResult<T>> => {
        const e = this.items.shift();
        if (e !== undefined) return Promise.resolve({ value: e.item, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiter = resolve;
        });
      },
    };
  }
}
