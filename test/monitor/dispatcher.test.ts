import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Dispatcher, type DispatcherOptions, type SkipReason } from '../../src/monitor/dispatcher.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { useFakeClock, useRealClock } from '../helpers/clock.ts';

interface Item {
  name: string;
  running: boolean;
  queued: boolean;
}

/** A dispatcher over plain items: it needs no monitor, breaker or OpenTelemetry. */
function setup(options: Partial<DispatcherOptions> = {}) {
  const items = new Map<string, Item>();
  const started: string[] = [];
  const skips: Array<[string, SkipReason, number]> = [];
  let inFlight = 0;
  const dispatcher = new Dispatcher<Item>(
    { intervalMs: 1_000, staggerMs: undefined, maxConcurrent: 10, maxLatenessMs: 200, degradedIntervalFactor: 2, degradedConcurrencyFactor: 0.5, ...options },
    { lookup: (key) => items.get(key), isCurrent: (item) => items.get(item.name) === item },
    {
      isBusy: (item) => item.running,
      start: (item) => {
        started.push(item.name);
        item.running = true;
        inFlight += 1;
      },
      get inFlight() {
        return inFlight;
      },
    },
    { recordSkippedCheck: (platform, reason, count) => void skips.push([platform, reason, count]) },
    silentLogger,
  );
  const add = (name: string) => {
    items.set(name, { name, running: false, queued: false });
    dispatcher.add(name, 1_000);
  };
  const finish = (name: string) => {
    items.get(name)!.running = false;
    inFlight -= 1;
    dispatcher.pump();
  };
  return { dispatcher, add, finish, started, skips };
}

describe('the dispatcher', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => useRealClock());

  it('starts two platforms half an interval apart, once an interval each', () => {
    const { dispatcher, add, finish, started } = setup();
    add('a');
    add('b');
    dispatcher.start();
    mock.timers.tick(0);
    assert.deepEqual(started, ['a']);
    finish('a');
    mock.timers.tick(500);
    assert.deepEqual(started, ['a', 'b']);
    finish('b');
    mock.timers.tick(500);
    assert.deepEqual(started, ['a', 'b', 'a']);
    dispatcher.stop();
  });

  it('skips the slot of a platform whose previous check still runs, and counts it', () => {
    const { dispatcher, add, started, skips } = setup();
    add('a');
    dispatcher.start();
    mock.timers.tick(0);
    mock.timers.tick(1_000);
    mock.timers.tick(1_000);
    assert.deepEqual(started, ['a']);
    assert.deepEqual(skips, [['a', 'busy', 1], ['a', 'busy', 1]]);
    assert.equal(dispatcher.skipped, 2);
    dispatcher.stop();
  });

  it('holds due checks at the concurrency cap and skips those that waited past maxLatenessMs', () => {
    const { dispatcher, add, finish, started, skips } = setup({ maxConcurrent: 1, staggerMs: 0 });
    add('a');
    add('b');
    add('c');
    dispatcher.start();
    mock.timers.tick(0);
    assert.deepEqual(started, ['a']);
    mock.timers.tick(100);
    finish('a');
    assert.deepEqual(started, ['a', 'b']);
    mock.timers.tick(150);
    finish('b');
    assert.deepEqual(started, ['a', 'b'], 'c waited 250 ms, past its 200 ms');
    assert.deepEqual(skips, [['c', 'missed', 1]]);
    dispatcher.stop();
  });

  it('is not running, and has no timer due, after stop()', () => {
    const { dispatcher, add } = setup();
    add('a');
    dispatcher.start();
    dispatcher.stop();
    assert.equal(dispatcher.running, false);
    assert.equal(dispatcher.overdueMs(), -Infinity);
  });
});
