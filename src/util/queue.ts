/**
 * A FIFO for the hot path. Array.prototype.shift moves the rest of the array
 * on every call; this one advances a head index and resets when it empties
 * (a session's queue of pending requests empties at every ReadyForQuery).
 */
export class Queue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The oldest item, if any. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // A long pipeline that never drains: drop the consumed part now and then.
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
