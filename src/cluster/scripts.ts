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
 * Membership. KEYS: members (a sorted set of id → expiry), epoch, this id's
 * token. ARGV: id, ttl ms, an epoch token, the channel, this process's token.
 * A heartbeat renews this replica's expiry, drops the members whose expiry
 * passed, and answers Redis's time, the epoch (a token set once: a different
 * one than this replica last saw means Redis lost its data), the live
 * members with their expiries, and the token the last heartbeat under this
 * id left (another process's, heartbeat after heartbeat: two replicas share
 * the id). A member joining or dropped is announced on the channel, so the
 * others look again at once rather than at their next heartbeat.
 */
export const HEARTBEAT = script(`${NOW}
redis.call('SET', KEYS[2], ARGV[3], 'NX')
local joined = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dropped = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
if joined > 0 or dropped > 0 then redis.call('PUBLISH', ARGV[4], cjson.encode({m = ARGV[1]})) end
local prior = redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[2], 'GET')
return {now, redis.call('GET', KEYS[2]), redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), prior or ''}`);

/** A key of the cluster's holding another type (written by hand) is dropped, so that this write repairs it. */
const OWN = `local function own(key, kind)
  local ty = redis.call('TYPE', key).ok
  if ty ~= kind and ty ~= 'none' then redis.call('DEL', key) end
end`;

/**
 * One shared breaker. KEYS: breakers (a hash of platform → record), version
 * (a counter every write increments). ARGV: op, platform, replica, the
 * caller's known period, failMax, minReplicas, resetTimeoutMs,
 * resetBackoffFactor, maxResetTimeoutMs, leaseMs, channel, and for `adopt`
 * a record (the known period is then the one of the record the caller read). The record: s state (C, O, H),
 * g period, f consecutive failures, r the replicas they came from
 * (comma-separated), n openings in a row, o opened at, h half-open from,
 * t the trial's holder, l its lease's end, d this opening's wait (ms, Redis
 * time). Ops:
 *   fail, ok        a CLOSED outcome of period g (stale: ignored);
 *   claim           take (or renew) the half-open trial once it is due;
 *   trial_ok/trial_fail  the holder's trial of period g ended;
 *   release         the holder gives its trial up (it stops): the next claim takes it;
 *   force_open, reset, read;
 *   adopt           a replica back from local mode, or rebuilding after Redis
 *                   lost its data, sets the record it decided alone, if the
 *                   stored one is still of the period it read: its evidence
 *                   is the newer. Otherwise the stored one stands.
 *   restore         the same, rebuilding after Redis lost its data: the breaker
 *                   wrote back is the shared verdict, kept whatever minReplicas.
 * A stored record that is absent or does not decode (numbers that are not
 * finite and non-negative included) starts afresh in the caller's period, so
 * the caller's outcomes count; a corrupt one is overwritten at once. A wait
 * is never longer than the longest the options allow, whatever is stored.
 * Answers Redis's time, the record and the version; a write publishes them.
 */
export const BREAKER = script(`${NOW}
${OWN}
local op, platform, replica = ARGV[1], ARGV[2], ARGV[3]
local period, failMax, minReplicas = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local resetMs, factor, maxMs, leaseMs = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local function num(x) return type(x) == 'number' and x == x and x >= 0 and x < 1e300 end
local function valid(v)
  return type(v) == 'table' and (v.s == 'C' or v.s == 'O' or v.s == 'H') and num(v.g) and num(v.f) and type(v.r) == 'string'
    and num(v.n) and num(v.o) and num(v.h) and type(v.t) == 'string' and num(v.l) and num(v.d)
end
local function decode(raw)
  if not raw then return nil end
  local ok, v = pcall(cjson.decode, raw)
  if ok and valid(v) then return v end
  return nil
end
own(KEYS[1], 'hash')
own(KEYS[2], 'string')
local version = tonumber(redis.call('GET', KEYS[2]) or '0')
if version == nil then
  redis.call('DEL', KEYS[2])
  version = 0
end
local raw = redis.call('HGET', KEYS[1], platform)
local st = decode(raw)
local changed = false
if st == nil then
  st = {s = 'C', g = period, f = 0, r = '', n = 0, o = 0, h = 0, t = '', l = 0, d = 0}
  changed = raw ~= false
end
if (op == 'adopt' or op == 'restore') and st.g == period then
  local given = decode(ARGV[12])
  if given ~= nil then
    -- One replica's verdict, decided alone: above minReplicas 1 it opens nothing; its failures stay counted, for the ranked
    -- replicas to confirm or clear. A restore writes back the shared verdict Redis lost, which stands as it was.
    if op == 'adopt' and given.s ~= 'C' and minReplicas > 1 then
      given.s, given.n, given.t, given.l, given.f = 'C', 0, '', 0, math.max(given.f, 1)
    end
    given.g = period + 1
    st = given
    changed = true
  end
end
local longest = (factor > 1) and maxMs or resetMs
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
  if st.s == 'O' and now >= math.min(st.h, st.o + longest) then
    st.s, st.t, st.l, st.g = 'H', replica, now + leaseMs, st.g + 1
    changed = true
  elseif st.s == 'H' and (st.t == '' or st.t == replica) then
    st.t, st.l = replica, now + leaseMs
    changed = true
  end
elseif op == 'release' then
  if st.s == 'H' and st.t == replica then
    st.t, st.l, st.g = '', 0, st.g + 1
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
  version = redis.call('INCR', KEYS[2])
  redis.call('PUBLISH', ARGV[11], cjson.encode({p = platform, v = version, by = replica, st = st}))
end
return {now, record, version}`);

/**
 * The whole shared breaker state at one instant. KEYS: breakers, version,
 * epoch. Answers the version, the epoch (which tells a wipe apart) and every
 * record.
 */
export const READ_BREAKERS = script(`return {tonumber(redis.call('GET', KEYS[2]) or '0') or 0, redis.call('GET', KEYS[3]) or '', redis.call('HGETALL', KEYS[1])}`);

/**
 * The last check of each platform. KEYS: checks (a hash of platform →
 * "time|replica|status|interval"). ARGV: replica, then platform, age in ms,
 * status, interval, covering (1 or 0) quints: each check's time is Redis's
 * now less its age. A check made covering for a silent owner does not
 * replace another replica's check younger than an interval: the owner back,
 * its checks stay visible, and the replica covering for it sees it and stops.
 */
export const CHECKS = script(`${NOW}
${OWN}
own(KEYS[1], 'hash')
for i = 2, #ARGV, 5 do
  local write = true
  if ARGV[i + 4] == '1' then
    local cur = redis.call('HGET', KEYS[1], ARGV[i])
    local t, by = string.match(cur or '', '^([^|]*)|([^|]*)|')
    local age = now - (tonumber(t) or 0)
    if by ~= nil and by ~= ARGV[1] and age >= 0 and age < tonumber(ARGV[i + 3]) then write = false end
  end
  if write then
    redis.call('HSET', KEYS[1], ARGV[i], (now - tonumber(ARGV[i + 1])) .. '|' .. ARGV[1] .. '|' .. ARGV[i + 2] .. '|' .. ARGV[i + 3])
  end
end
return now`);

/** Leaving: KEYS: members, this id's token; ARGV: id, the channel, this process's token (announced as a join is). */
export const LEAVE = script(`local left = redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
if left > 0 then redis.call('PUBLISH', ARGV[2], cjson.encode({m = ARGV[1]})) end
return left`);
