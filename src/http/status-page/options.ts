/** The options of `statusPageHandler`, declared once. */
import type * as z from 'zod';
import { number, options } from '../../common/option-schema.ts';

/** Options of `statusPageHandler`; every one is optional. */
export const STATUS_PAGE_OPTIONS = options({
  /** Event streams open at once (default 100); one more is answered 503. */
  maxStreams: number({ min: 1, integer: true }).default(100),
  /** Unsent bytes a stream may hold before its client is dropped as not reading (default 1 MiB). */
  maxBufferedBytes: number({ min: 1, integer: true }).default(1024 * 1024),
  /**
   * Age at which an event stream is ended (default 60,000 ms): a page comes
   * back 2 s later and gets only what it missed; a client that does not read
   * does not, and frees its place.
   */
  maxStreamAgeMs: number({ min: 1_000, max: 86_400_000, integer: true }).default(60_000),
  /** How often open pages get the changes since the last update (default 1,000 ms). */
  updateIntervalMs: number({ min: 10, max: 60_000 }).default(1_000),
});

/** Options of `statusPageHandler`; every one is optional. */
export type StatusPageOptions = z.input<typeof STATUS_PAGE_OPTIONS>;
