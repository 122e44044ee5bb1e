// Loaded with `node --import <this file>`: the process runs as on a machine
// whose wall clock is CLOCK_OFFSET_MS off (negative: behind). Date.now(),
// new Date(), Date() and performance.timeOrigin (what OpenTelemetry adds
// performance.now() to for span times) read the shifted wall clock;
// performance.now(), process.hrtime and every timer keep the monotonic clock,
// as they do on such a machine. What reads the wall clock below JavaScript
// (Intl formatting without a date, file times) is not shifted.
// See clockOffsetEnv() in replicas.ts for the environment that loads it.
export {};

const raw = process.env.CLOCK_OFFSET_MS ?? '';
const offset = Number(raw);
if (raw.trim() === '' || !Number.isFinite(offset)) {
  throw new Error(`clock-offset: CLOCK_OFFSET_MS must be a number of milliseconds, got ${JSON.stringify(raw)}`);
}

const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
const shiftedNow = (): number => realNow() + offset;

// A Proxy rather than a subclass: Date() called without new must work too, and
// `instanceof Date`, Date.prototype and subclasses stay the real ones.
globalThis.Date = new Proxy(RealDate, {
  construct(target, args: unknown[], newTarget) {
    return Reflect.construct(target, args.length === 0 ? [shiftedNow()] : args, newTarget) as object;
  },
  apply() {
    return new RealDate(shiftedNow()).toString();
  },
  get(target, key, receiver) {
    return key === 'now' ? shiftedNow : Reflect.get(target, key, receiver);
  },
});

const timeOrigin = performance.timeOrigin + offset;
Object.defineProperty(performance, 'timeOrigin', { get: () => timeOrigin, configurable: true });
