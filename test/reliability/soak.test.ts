// Area 5: the soak. 1,000 platforms flapping at random (seeded) for 24 hours of
// fake time, in a child process started with --expose-gc so the heap can be read
// after a full collection every simulated hour. The configuration and why it
// still means "1,000 platforms for 24 hours" is explained in fixtures/soak.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runNode, type ChildRun } from '../helpers/child.ts';
import { fileURLToPath } from 'node:url';

interface Hour {
  hour: number;
  heapMB: number;
  liveTimers: number;
  openBreakers: number;
  checksRunning: number;
  trialsRunning: number;
  checks: number;
}
interface SoakResult {
  platforms: number;
  intervalMs: number;
  simulatedHours: number;
  checks: number;
  statuses: Record<'success' | 'failure' | 'timeout' | 'rejected', number>;
  skipped: number;
  transitions: number;
  hours: Hour[];
  liveTimersAfterStop: number;
  violations: string[];
  violationCount: number;
  unhandled: string[];
  warnings: string[];
  wallMs: number;
}

function runSoak(): Promise<ChildRun> {
  // A safety, not a measurement: ~35–60 s alone on the 2-core machine, past 110 s while the
  // whole suite (and other work) shares it; the test's own limit is raised to match.
  return runNode(fileURLToPath(new URL('./fixtures/soak.ts', import.meta.url)), { nodeArgs: ['--expose-gc'], safetyMs: 280_000 });
}

describe('soak: 1,000 platforms flapping for 24 hours of fake time', () => {
  it('keeps the heap, the timers and every metric invariant, with no unhandled rejection or warning', { timeout: 300_000 }, async () => {
    const run = await runSoak();
    assert.ok(run.exitedByItself, `the soak ended by itself; stderr: ${run.stderr}`);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '', 'nothing on stderr');
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as SoakResult;
    const { hours, statuses } = result;
    const heap = hours.map((h) => h.heapMB);
    console.log(
      `# soak: ${result.platforms} platforms, ${result.simulatedHours} simulated hours at a ${result.intervalMs / 1000} s interval: ` +
        `${result.checks} checks run, ${JSON.stringify(statuses)}, ${result.skipped} skipped, ${result.transitions} breaker transitions; ` +
        `heap after GC ${heap[0]} MB after hour 1, ${Math.min(...heap)}–${Math.max(...heap)} MB over the day; ${result.wallMs} ms wall`,
    );

    assert.equal(result.platforms, 1_000);
    assert.equal(result.simulatedHours, 24);
    assert.equal(hours.length, 24);
    // Every slot is accounted for: run, rejected by an open breaker, or skipped.
    let slots = 0;
    for (let i = 0; i < result.platforms; i += 1) slots += Math.floor((24 * 3_600_000 - (i * result.intervalMs) / result.platforms) / result.intervalMs) + 1;
    assert.equal(result.checks + statuses.rejected + result.skipped, slots, 'slots = runs + rejected + skipped');
    const stillRunning = hours.at(-1)!.checksRunning;
    assert.equal(statuses.success + statuses.failure + statuses.timeout, result.checks - stillRunning, 'every run that finished is counted once');
    // Flapping, for real: every outcome, and breakers going round many times.
    for (const status of ['success', 'failure', 'timeout', 'rejected'] as const) assert.ok(statuses[status] > 10_000, `${statuses[status]} ${status}`);
    assert.ok(result.transitions > 100_000, `${result.transitions} breaker transitions`);

    assert.deepEqual(result.violations, [], `${result.violationCount} violations: counters monotonic, one circuit_breaker_state at 1 per platform, matching its breaker`);
    assert.deepEqual(result.unhandled, [], 'no unhandled rejection');
    assert.deepEqual(result.warnings, [], 'no process warning');

    // Heap after GC: a leak grows it, so it must stay within 10 % above its level after the first hour.
    for (const h of hours) assert.ok(h.heapMB <= heap[0]! * 1.1, `hour ${h.hour}: ${h.heapMB} MB after GC, hour 1: ${heap[0]} MB`);
    // Timers: one schedule timer and one shared breaker interval, plus exactly one per OPEN breaker
    // (its reset), per running check (its timeout) and per running half-open trial (its lease).
    // The constant part never changes.
    for (const h of hours) assert.equal(h.liveTimers - h.openBreakers - h.checksRunning - h.trialsRunning, 2, `hour ${h.hour}: ${JSON.stringify(h)}`);
    assert.equal(result.liveTimersAfterStop, 0, 'stop() left no timer');
  });
});
