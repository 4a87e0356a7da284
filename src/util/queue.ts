/**
 * A FIFO for the hot path. Array.prototype.shift moves the rest of the array
 * on every call; this one advances a head index. When it empties (a session's
 * queue of pending requests empties at every ReadyForQuery) it starts over at
 * slot 0 of the same array, which keeps its storage: truncating the array
 * would free it and the next push would allocate it again.
 */
export class Queue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  /** The oldest item, if any. */
  peek(): T | undefined {
    return this.head < this.tail ? this.items[this.head] : undefined;
  }

  /** Calls fn for each item, oldest first. */
  forEach(fn: (item: T) => void): void {
    for (let i = this.head; i < this.tail; i++) fn(this.items[i] as T);
  }

  push(item: T): void {
    if (this.tail < this.items.length) this.items[this.tail] = item;
    else this.items.push(item);
    this.tail++;
  }

  shift(): T | undefined {
    if (this.head >= this.tail) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.tail) {
      // A long pipeline that never drains: drop the consumed part now and then.
      this.items = this.items.slice(this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    return item;
  }
}
