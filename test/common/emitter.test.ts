import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Emitter } from '../../src/common/emitter.ts';

type Events = { change: [string] };

describe('Emitter', () => {
  it('delivers to every listener, and unsubscribes by the function on() returns or by off()', () => {
    const emitter = new Emitter<Events>(() => assert.fail('no listener threw'));
    const heard: string[] = [];
    const offA = emitter.on('change', (v) => heard.push(`a${v}`));
    const b = (v: string) => void heard.push(`b${v}`);
    emitter.on('change', b);
    emitter.emit('change', '1');
    offA();
    emitter.emit('change', '2');
    emitter.off('change', b);
    emitter.emit('change', '3');
    assert.deepEqual(heard, ['a1', 'b1', 'b2']);
    assert.equal(emitter.listenerCount('change'), 0);
  });

  it('reports a listener that throws, and the listeners after it still hear the event', () => {
    const reported: unknown[] = [];
    const emitter = new Emitter<Events>((error, event) => reported.push([event, (error as Error).message]));
    const heard: string[] = [];
    emitter.on('change', () => {
      throw new Error('listener bug');
    });
    emitter.on('change', (v) => heard.push(v));
    emitter.emit('change', 'x');
    assert.deepEqual(heard, ['x']);
    assert.deepEqual(reported, [['change', 'listener bug']]);
  });

  it('delivers an event raised by a listener only after every listener heard the one before it', () => {
    const emitter = new Emitter<Events>(() => {});
    const heard: string[] = [];
    emitter.on('change', (v) => {
      heard.push(`first:${v}`);
      if (v === 'CLOSED>OPEN') emitter.emit('change', 'OPEN>CLOSED');
    });
    emitter.on('change', (v) => heard.push(`second:${v}`));
    emitter.emit('change', 'CLOSED>OPEN');
    assert.deepEqual(heard, ['first:CLOSED>OPEN', 'second:CLOSED>OPEN', 'first:OPEN>CLOSED', 'second:OPEN>CLOSED']);
  });

  it('refuses a listener that is not a function, naming it', () => {
    const emitter = new Emitter<Events>(() => {});
    assert.throws(() => emitter.on('change', 'x' as never), { name: 'TypeError', code: 'EOPTIONTYPE', message: /"listener"/ });
  });
});
