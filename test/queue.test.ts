import { describe, expect, it } from 'vitest';
import { Queue } from '../src/util/queue.js';

describe('Queue', () => {
  it('hands items back in order, and peek/length follow', () => {
    const q = new Queue<number>();
    expect(q.length).toBe(0);
    expect(q.peek()).toBeUndefined();
    expect(q.shift()).toBeUndefined();
    q.push(1);
    q.push(2);
    expect(q.length).toBe(2);
    expect(q.peek()).toBe(1);
    expect(q.shift()).toBe(1);
    q.push(3);
    expect([q.shift(), q.shift(), q.shift()]).toEqual([2, 3, undefined]);
    expect(q.length).toBe(0);
  });

  it('starts over when emptied, without losing items pushed later', () => {
    const q = new Queue<string>();
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round % 7; i++) q.push(`${round}.${i}`);
      for (let i = 0; i < round % 7; i++) expect(q.shift()).toBe(`${round}.${i}`);
      expect(q.length).toBe(0);
      expect(q.peek()).toBeUndefined();
    }
  });

  it('keeps order across the compaction of a pipeline that never drains', () => {
    const q = new Queue<number>();
    let next = 0;
    let expected = 0;
    // Always a few hundred items waiting: the consumed part is dropped now and then.
    for (let i = 0; i < 5000; i++) {
      q.push(next++);
      q.push(next++);
      expect(q.shift()).toBe(expected++);
      if (q.length > 300) expect(q.shift()).toBe(expected++);
    }
    while (q.length) expect(q.shift()).toBe(expected++);
    expect(expected).toBe(next);
  });
});
