import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { EventStreams, encodeEvent } from '../../../src/http/status-page/event-streams.ts';

describe('EventStreams', () => {
  let server: Server;
  let streams: EventStreams;
  const opened: number[] = [];
  let port: number;
  /** Socket writes the streams made. */
  let writes = 0;

  before(async () => {
    streams = new EventStreams({ maxStreams: 50, maxBufferedBytes: 1024 * 1024 }, (open) => opened.push(open));
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
