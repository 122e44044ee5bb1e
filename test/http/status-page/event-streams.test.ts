import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { EventStreams, RETURN_GRACE_MS, encodeEvent } from '../../../src/http/status-page/event-streams.ts';
import { advance, settle, useFakeClock, useRealClock } from '../../helpers/clock.ts';

describe('EventStreams', () => {
  let server: Server;
  let streams: EventStreams;
  const opened: number[] = [];
  let port: number;
  /** Socket writes the streams made. */
  let writes = 0;

  before(async () => {
    streams = new EventStreams({ maxStreams: 50, maxBufferedBytes: 1024 * 1024, maxAgeMs: 60_000 }, (open) => opened.push(open));
    server = createServer((req, res) => {
      const write = res.write.bind(res) as (chunk: Buffer) => boolean;
      res.write = ((chunk: Buffer) => {
        writes += 1;
        return write(chunk);
      }) as typeof res.write;
      streams.open(req, res, {}, () => encodeEvent('hello', '0'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    streams.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('brings every broadcast to each of 25 streams in order, though it writes ten streams per turn', async () => {
    const bodies = await Promise.all(Array.from({ length: 25 }, () => fetch(`http://127.0.0.1:${port}/`)));
    assert.equal(streams.size, 25);
    writes = 0;
    streams.broadcast(encodeEvent('n', '1'));
    assert.equal(writes, 0, 'nothing written in the caller’s turn');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes, 10, 'ten streams in the first turn');
    for (let n = 2; n <= 5; n += 1) streams.broadcast(encodeEvent('n', String(n)));
    const texts = await Promise.all(
      bodies.map(async (response) => {
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        let text = '';
        while (!text.includes('data: 5\n\n')) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
        }
        await reader.cancel();
        return text;
      }),
    );
    for (const text of texts) {
      assert.equal(text, `event: hello\ndata: 0\n\n${[1, 2, 3, 4, 5].map((n) => `event: n\ndata: ${n}\n\n`).join('')}`);
    }
    assert.equal(opened.slice(0, 25).join(), Array.from({ length: 25 }, (_, i) => i + 1).join(), 'each open is heard with the new count');
  });
});

describe('EventStreams at their age', () => {
  it('ends a stream at maxAgeMs with a bye event, and counts it as expected back for RETURN_GRACE_MS or until a stream opens', async () => {
    useFakeClock();
    const counts: number[] = [];
    const streams = new EventStreams({ maxStreams: 5, maxBufferedBytes: 1024 * 1024, maxAgeMs: 30_000 }, (open) => counts.push(open));
    const server = createServer((req, res) => streams.open(req, res, {}, () => encodeEvent('hello', '0')));
    try {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
      const text = fetch(url).then((r) => r.text());
      await settleUntil(() => streams.size === 1);
      await advance(29_999);
      assert.equal(streams.size, 1);
      await advance(1);
      assert.equal(await text, 'event: hello\ndata: 0\n\nevent: bye\ndata: {}\n\n', 'the stream ended with bye');
      assert.deepEqual(counts, [1, 1], 'ended, it is still expected back');
      await advance(RETURN_GRACE_MS);
      assert.deepEqual(counts, [1, 1, 0], 'not back within the grace');

      const again = fetch(url).then((r) => r.text());
      await settleUntil(() => streams.size === 1);
      await advance(30_000);
      await again;
      const back = new AbortController();
      void fetch(url, { signal: back.signal }).catch(() => {});
      await settleUntil(() => streams.size === 1);
      assert.deepEqual(counts.slice(3), [1, 1, 1], 'back within the grace: one stream, none expected');
      await advance(RETURN_GRACE_MS);
      assert.deepEqual(counts.slice(3), [1, 1, 1], 'the grace ended with the return');
      back.abort();
      await settleUntil(() => streams.size === 0);
      assert.equal(counts.at(-1), 0);
    } finally {
      streams.close();
      server.closeAllConnections();
      server.close();
      useRealClock();
    }
  });
});

/** Lets real I/O run until `done` holds (the fake clock stands still meanwhile). */
async function settleUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i += 1) await settle();
  assert.ok(done(), 'settled');
}
