/**
 * The Lua the replicas share a state with. Every step that reads and writes
 * more than one value runs as one script, atomically in Redis, and takes its
 * time from Redis `TIME`: the replicas' own clocks may disagree by any amount.
 * A stored record that does not decode is treated as absent (and overwritten
 * by the next write), never an error.
 */
import { createHash } from 'node:crypto';

/** A script and its SHA-1, for EVALSHA with a fallback to EVAL after Redis lost its script cache (a restart). */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Membership. KEYS: members (a sorted set of id → expiry), epoch. ARGV: id,
 * ttl ms, an epoch token, the channel. A heartbeat renews this replica's
 * expiry, drops the members whose expiry passed, and answers Redis's time,
 * the epoch (a token set once: a different one than this replica last saw
 * means Redis lost its data) and the live members with their expiries. A member joining or
 * dropped is announced on the channel, so the others look again at once
 * rather than at their next heartbeat.
 */
export const HEARTBEAT = script(`${NOW}
redis.call('SET', KEYS[2], ARGV[3], 'NX')
local joined = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dropped = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
if joined > 0 or dropped > 0 then redis.call('PUBLISH', ARGV[4], cjson.encode({m = ARGV[1]})) end
return {now, redis.call('GET', KEYS[2]), redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}`);

/**
 * One shared breaker. KEYS: breakers (a hash of platform → record), version
 * (a counter every write increments). ARGV: op, platform, replica, the
 * caller's known period, failMax, minReplicas, resetTimeoutMs,
 * resetBackoffFactor, maxResetTimeoutMs, leaseMs, channel, and for `adopt`
 * a record. The record: s state (C, O, H), g period, f consecutive failures,
 * r the replicas they came from (comma-separated), n openings in a row,
 * o opened at, h half-open from, t the trial's holder, l its lease's end,
 * d this opening's wait (ms, Redis time). Ops:
 *   fail, ok        a CLOSED outcome of period g (stale: ignored);
 *   claim           take (or renew) the half-open trial once it is due;
 *   trial_ok/trial_fail  the holder's trial of period g ended;
 *   force_open, reset, read;
 *   adopt           a replica back from local mode, or rebuilding after Redis
 *                   lost its data, sets the record it decided alone, if the
 *                   stored one is still period g (or none): its evidence is
 *                   the newer. Otherwise the stored one stands.
 * Answers Redis's time and the record; a write publishes it on the channel.
 */
export const BREAKER = script(`${NOW}
local op, platform, replica = ARGV[1], ARGV[2], ARGV[3]
local period, failMax, minReplicas = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local resetMs, factor, maxMs, leaseMs = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local function valid(v)
  return type(v) == 'table' and (v.s == 'C' or v.s == 'O' or v.s == 'H') and type(v.g) == 'number' and type(v.f) == 'number'
    and type(v.r) == 'string' and type(v.n) == 'number' and type(v.o) == 'number' and type(v.h) == 'number'
    and type(v.t) == 'string' and type(v.l) == 'number' and type(v.d) == 'number'
end
local function decode(raw)
  if not raw then return nil end
  local ok, v = pcall(cjson.decode, raw)
  if ok and valid(v) then return v end
  return nil
end
local st = decode(redis.call('HGET', KEYS[1], platform))
local changed = false
if op == 'adopt' and (st == nil or st.g == period) then
  local given = decode(ARGV[12])
  if given ~= nil then
    st = given
    st.g = period + 1
    changed = true
  end
end
if st == nil then st = {s = 'C', g = 0, f = 0, r = '', n = 0, o = 0, h = 0, t = '', l = 0, d = 0} end
local function wait(n)
  if factor == 1 or n <= 1 then return resetMs end
  return math.max(resetMs, math.min(maxMs, resetMs * factor ^ (n - 1)))
end
local function open()
  st.n = st.n + 1
  st.d = wait(st.n)
  st.s, st.o, st.h, st.t, st.l, st.g = 'O', now, now + st.d, '', 0, st.g + 1
  changed = true
end
local function close()
  st.s, st.f, st.r, st.n, st.t, st.l, st.g = 'C', 0, '', 0, '', 0, st.g + 1
  changed = true
end
if st.s == 'H' and st.t ~= '' and now >= st.l then
  -- The holder's lease ran out: a failed trial, whoever held it.
  st.f = st.f + 1
  open()
end
if op == 'fail' then
  if st.s == 'C' and period == st.g then
    st.f = st.f + 1
    if not string.find(',' .. st.r .. ',', ',' .. replica .. ',', 1, true) then
      st.r = (st.r == '') and replica or (st.r .. ',' .. replica)
    end
    changed = true
    local distinct = select(2, string.gsub(st.r, ',', ',')) + 1
    if st.f >= failMax and distinct >= minReplicas then open() end
  end
elseif op == 'ok' then
  if st.s == 'C' and period == st.g and st.f > 0 then
    st.f, st.r = 0, ''
    changed = true
  end
elseif op == 'claim' then
  if st.s == 'O' and now >= st.h then
    st.s, st.t, st.l, st.g = 'H', replica, now + leaseMs, st.g + 1
    changed = true
  elseif st.s == 'H' and (st.t == '' or st.t == replica) then
    st.t, st.l = replica, now + leaseMs
    changed = true
  end
elseif op == 'trial_ok' or op == 'trial_fail' then
  if st.s == 'H' and st.t == replica and period == st.g then
    if op == 'trial_ok' then close() else
      st.f = st.f + 1
      open()
    end
  end
elseif op == 'force_open' then
  if st.s ~= 'O' then open() end
elseif op == 'reset' then
  close()
end
local record = cjson.encode(st)
if changed then
  redis.call('HSET', KEYS[1], platform, record)
  local version = redis.call('INCR', KEYS[2])
  redis.call('PUBLISH', ARGV[11], cjson.encode({p = platform, v = version, by = replica, st = st}))
end
return {now, record}`);

/**
 * The last check of each platform. KEYS: checks (a hash of platform →
 * "time|replica|status|interval"). ARGV: replica, then platform, age in ms,
 * status, interval quads: each check's time is Redis's now less its age.
 */
export const CHECKS = script(`${NOW}
for i = 2, #ARGV, 4 do
  redis.call('HSET', KEYS[1], ARGV[i], (now - tonumber(ARGV[i + 1])) .. '|' .. ARGV[1] .. '|' .. ARGV[i + 2] .. '|' .. ARGV[i + 3])
end
return now`);

/** Leaving: KEYS: members; ARGV: id, the channel (announced as a join is). */
export const LEAVE = script(`local left = redis.call('ZREM', KEYS[1], ARGV[1])
if left > 0 then redis.call('PUBLISH', ARGV[2], cjson.encode({m = ARGV[1]})) end
return left`);
