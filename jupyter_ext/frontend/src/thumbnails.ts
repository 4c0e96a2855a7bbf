/**
 * Thumbnails fetched with the user's credentials and kept as object URLs, at most
 * a few at a time and a bounded number in memory.
 */

import { image } from './api';

export class ThumbnailLoader {
  constructor(
    readonly maxCached = 600,
    readonly concurrency = 6
  ) {}

  /** Set `img.src` to the thumbnail at `url` once it is here. */
  load(img: HTMLImageElement, url: string): void {
    const cached = this.cache.get(url);
    if (cached) {
      img.src = cached;
      return;
    }
    const waiting = this.waiting.get(url);
    if (waiting) {
      waiting.push(img);
      return;
    }
    this.waiting.set(url, [img]);
    this.queue.push(url);
    this.pump();
  }

  /** Forget images waiting for URLs no longer on screen. */
  forgetExcept(visible: Set<string>): void {
    this.queue = this.queue.filter(url => {
      const keep = visible.has(url);
      if (!keep) {
        this.waiting.delete(url);
      }
      return keep;
    });
  }

  dispose(): void {
    for (const url of this.cache.values()) {
      URL.revokeObjectURL(url);
    }
    this.cache.clear();
    this.queue = [];
    this.waiting.clear();
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length) {
      const url = this.queue.shift() as string;
      this.running += 1;
      image(url)
        .then(result => {
          this.remember(url, result.url);
          for (const img of this.waiting.get(url) ?? []) {
            if (img.dataset.src === url) {
              img.src = result.url;
            }
          }
        })
        .catch(() => {
          for (const img of this.waiting.get(url) ?? []) {
            img.classList.add('voxcat-broken');
          }
        })
        .finally(() => {
          this.waiting.delete(url);
          this.running -= 1;
          this.pump();
        });
    }
  }

  private remember(url: string, objectUrl: string): void {
    this.cache.set(url, objectUrl);
    while (this.cache.size > this.maxCached) {
      const [oldest, old] = this.cache.entries().next().value as [string, string];
      this.cache.delete(oldest);
      URL.revokeObjectURL(old);
    }
  }

  private cache = new Map<string, string>();
  private waiting = new Map<string, HTMLImageElement[]>();
  private queue: string[] = [];
  private running = 0;
}
