import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { HealthCheckResult } from '../../src/monitor/report.ts';
import { outsideShare } from '../../src/monitor/deferred-span.ts';
import { RandomIds } from '../../src/common/random-ids.ts';
import { advance, settle } from '../helpers/clock.ts';
import { find } from '../helpers/exposition.ts';
import { monitorSuite } from '../helpers/monitor-suite.ts';
import { prng } from '../helpers/random.ts';

const suite = monitorSuite({ now: 1_700_000_000_000 });

/** Random ids from a seeded source, so the share a test sees is the same on every run. */
function seededIds(seed: number): RandomIds {
  const random = prng(seed);
  return new RandomIds((pool) => {
    for (let i = 0; i < pool.length; i += 1) pool[i] = Math.floor(random() * 256);
  });
}

/** The health_check spans of `platform` built so far. */
const checkSpans = (platform: string): ReadableSpan[] =>
  suite.otel.spans().filter((s) => s.name === 'health_check' && s.attributes['health_check.platform'] === platform);

describe('a check outside the exported share of successes', () => {
  it('leaves no span when it succeeds, yet runs under an unsampled context with valid ids, and is counted', async () => {
    const m = suite.monitor({ successSpanRatio: 0 });
    let seen: SpanContext | undefined;
    const carrier: Record<string, string> = {};
    const result = await m.checkPlatformHealth('quiet', () => {
      seen = trace.getActiveSpan()?.spanContext();
      propagation.inject(context.active(), carrier);
      return true;
    });
    assert.equal(result.status, 'success');
    assert.deepEqual(checkSpans('quiet'), []);
    assert.ok(seen && isSpanContextValid(seen), 'the check sees a valid span context');
    assert.equal(seen.traceFlags, TraceFlags.NONE, 'marked not sampled, so the platform records nothing either');
    assert.equal(carrier.traceparent, `00-${seen.traceId}-${seen.spanId}-00`);
    const scraped = await suite.otel.scrape();
    assert.equal(find(scraped, 'health_check_total', { platform: 'quiet', status: 'success' })[0]?.value, '1');
  });

  it('becomes a span when it fails, with its real start and end, ERROR status and the exception', async () => {
    const m = suite.monitor({ successSpanRatio: 0 });
    const startedAt = Date.now();
    const pending = m.checkPlatformHealth('failing', () => new Promise((_, reject) => setTimeout(() => reject(new RangeError('refused')), 1_500)));
    await advance(1_500);
    assert.equal((await pending).status, 'failure');
    const [span] = checkSpans('failing');
    assert.ok(span, 'the failed check is kept');
    assert.equal(span.attributes['health_check.status'], 'failure');
    assert.equal(span.attributes['circuit_breaker.state'], 'CLOSED');
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.status.message, 'refused');
    assert.ok(span.events.some((e) => e.name === 'exception' && e.attributes?.['exception.type'] === 'RangeError'));
    assert.equal(hrTimeToMilliseconds(span.startTime), startedAt, 'started when the check started');
    assert.equal(hrTimeToMilliseconds(span.duration), 1_500, 'as long as the check took');
    assert.equal(span.parentSpanContext, undefined, 'a root span');
  });

  it('becomes a span when it times out, naming the bound', async () => {
    const m = suite.monitor({ successSpanRatio: 0, timeoutMs: 2_000 });
    const pending = m.checkPlatformHealth('hanging', () => new Promise(() => {}));
    await advance(2_000);
    assert.equal((await pending).status, 'timeout');
    const [span] = checkSpans('hanging');
    assert.equal(span?.attributes['health_check.status'], 'timeout');
    assert.equal(span?.attributes['health_check.timeout_ms'], 2_000);
    assert.equal(span && hrTimeToMilliseconds(span.duration), 2_000);
  });

  it('keeps a rejected check and a successful trial that closed the breaker, with their breaker events', async () => {
    const m = suite.monitor({ successSpanRatio: 0, breaker: { resetTimeoutMs: 1_000 } });
    let healthy = false;
    const check = () => healthy;
    for (let i = 0; i < 3; i += 1) await m.checkPlatformHealth('recovering', check);
    assert.equal((await m.checkPlatformHealth('recovering', check)).status, 'rejected');
    await advance(1_000);
    healthy = true;
    assert.equal((await m.checkPlatformHealth('recovering', check)).status, 'success');
    assert.equal((await m.checkPlatformHealth('recovering', check)).status, 'success');
    const spans = checkSpans('recovering');
    assert.deepEqual(spans.map((s) => s.attributes['health_check.status']), ['failure', 'failure', 'failure', 'rejected', 'success'], 'the plain success after the trial leaves no span');
    assert.equal(spans[2]!.events.find((e) => e.name === 'circuit_breaker.state_change')?.attributes?.['circuit_breaker.to'], 'OPEN');
    assert.ok(spans[3]!.events.some((e) => e.name === 'circuit_breaker.rejected'));
    const closed = spans[4]!.events.find((e) => e.name === 'circuit_breaker.state_change');
    assert.deepEqual([closed?.attributes?.['circuit_breaker.from'], closed?.attributes?.['circuit_breaker.to']], ['HALF_OPEN', 'CLOSED']);
  });

  it('links a timer\'s transition to the sampled check that opened the breaker', async () => {
    const m = suite.monitor({ successSpanRatio: 1, breaker: { resetTimeoutMs: 1_000, failMax: 1 } });
    await m.checkPlatformHealth('linked', () => false);
    const opener = checkSpans('linked')[0]!;
    await advance(1_000);
    const halfOpen = suite.otel.spans().find((s) => s.name === 'circuit_breaker.transition' && s.attributes['circuit_breaker.platform'] === 'linked');
    assert.deepEqual(halfOpen?.links.map((l) => l.context.spanId), [opener.spanContext().spanId]);
  });

  it('contains a check that floods its span and hands it a throwing getter: the check fails, the loop goes on', async () => {
    const m = suite.monitor({ successSpanRatio: 0 });
    const result = await m.checkPlatformHealth('flooding', () => {
      const span = trace.getActiveSpan()!;
      for (let i = 0; i < 1_000; i += 1) span.addEvent(`event-${i}`).setAttribute(`key-${i}`, i);
      span.addEvent('hostile', { get boom(): string { throw new Error('getter'); } });
      return true;
    });
    assert.equal(result.status, 'failure', 'the getter threw in the check, as it would on an SDK span');
    const [span] = checkSpans('flooding');
    assert.ok(span && span.events.length <= 128, 'bounded like an SDK span');
    assert.equal(span.events.at(-1)?.name, 'exception');
    assert.equal(span.events.at(-2)?.name, 'event-999', 'the newest events are kept');
    assert.equal((await m.checkPlatformHealth('flooding', () => true)).status, 'success');
  });

  it('takes what an SDK span would refuse without it ever reaching the monitor’s own code', async () => {
    const m = suite.monitor({ successSpanRatio: 0 });
    const result = await m.checkPlatformHealth('odd', () => {
      const span = trace.getActiveSpan()!;
      span.setAttribute('odd.object', { get y(): string { throw new Error('getter'); } } as unknown as string);
      span.recordException({ code: Object.create(null) as string, name: 'Odd' });
      span.recordException(null as unknown as string);
      span.setStatus({ code: SpanStatusCode.UNSET });
      span.addEvent('odd.time', new Date(0));
      return false;
    });
    assert.equal(result.status, 'failure');
    assert.equal(result.errorType, 'check_failed', 'the odd values did not make the check throw');
    const [span] = checkSpans('odd');
    assert.equal(span?.attributes['odd.object'], undefined, 'dropped, as the SDK drops an invalid value');
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.deepEqual(span?.events.map((e) => e.name), ['exception', 'odd.time', 'exception']);
    assert.equal(span?.events[0]!.attributes?.['exception.type'], 'Odd');
  });

  it('lets the listeners of its check trace, and a check they start decide for itself', async () => {
    const m = suite.monitor({ successSpanRatio: 0 });
    m.on('check', (result: HealthCheckResult) => {
      if (result.platform !== 'first') return;
      suite.otel.tracer.startSpan('listener.work').end();
      void m.checkPlatformHealth('dependent', () => false);
    });
    await m.checkPlatformHealth('first', () => true);
    await settle();
    assert.deepEqual(checkSpans('first'), []);
    assert.equal(suite.otel.spans().filter((s) => s.name === 'listener.work').length, 1, 'outside the stand-in’s unsampled context');
    const [dependent] = checkSpans('dependent');
    assert.equal(dependent?.attributes['health_check.status'], 'failure', 'its failure is kept');
    assert.equal(dependent?.parentSpanContext, undefined, 'a root of its own');
  });

  it('takes any time a check gives an event, never one that would break the export', async () => {
    const m = suite.monitor({ successSpanRatio: 0 });
    await m.checkPlatformHealth('timed', () => {
      const span = trace.getActiveSpan()!;
      span.addEvent('epoch', new Date(0));
      span.addEvent('words', {}, 'soon' as unknown as number);
      span.addEvent('nan', Number.NaN);
      span.addEvent('short pair', [1] as unknown as [number, number]);
      return false;
    });
    const [span] = checkSpans('timed');
    const times = Object.fromEntries(span!.events.map((e) => [e.name, hrTimeToMilliseconds(e.time)]));
    assert.equal(times.epoch, 0, 'a Date is its own time');
    for (const name of ['words', 'nan', 'short pair']) assert.equal(times[name], Date.now(), `${name}: now, as an SDK span takes it`);
    assert.ok(JsonTraceSerializer.serializeRequest([span!]), 'the span serializes');
  });

  it('always gets a real span inside a caller’s trace', async () => {
    const m = suite.monitor({ successSpanRatio: 0 });
    const parent = suite.otel.tracer.startSpan('request');
    await context.with(trace.setSpan(ROOT_CONTEXT, parent), () => m.checkPlatformHealth('traced', () => true));
    parent.end();
    const [span] = checkSpans('traced');
    assert.equal(span?.parentSpanContext?.spanId, parent.spanContext().spanId);
  });
});

describe('outsideShare', () => {
  it('keeps about one root check in a hundred at 0.01, and none or all at 0 and 1', () => {
    const ids = seededIds(7);
    let inside = 0;
    for (let i = 0; i < 20_000; i += 1) if (outsideShare(ids, 0.01) === undefined) inside += 1;
    assert.ok(inside >= 150 && inside <= 250, `${inside} of 20,000 inside at 0.01`);
    assert.ok(Array.from({ length: 1_000 }, () => outsideShare(ids, 0)).every((x) => x !== undefined));
    assert.ok(Array.from({ length: 1_000 }, () => outsideShare(ids, 1)).every((x) => x === undefined));
  });
});

describe('RandomIds', () => {
  it('gives distinct lowercase hex ids of 32 and 16 digits', () => {
    const ids = new RandomIds();
    const traces = new Set(Array.from({ length: 10_000 }, () => ids.generateTraceId()));
    const spans = new Set(Array.from({ length: 10_000 }, () => ids.generateSpanId()));
    assert.equal(traces.size, 10_000);
    assert.equal(spans.size, 10_000);
    assert.ok([...traces].every((id) => /^[0-9a-f]{32}$/.test(id)));
    assert.ok([...spans].every((id) => /^[0-9a-f]{16}$/.test(id)));
  });

  it('never gives an all-zero (invalid) id, even from a source of zeros', () => {
    const ids = new RandomIds((pool) => pool.fill(0));
    assert.equal(ids.generateTraceId(), `${'0'.repeat(31)}1`);
    assert.equal(ids.generateSpanId(), `${'0'.repeat(15)}1`);
  });
});
