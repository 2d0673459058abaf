-- Apply one batch of net changes and its checkpoints atomically (projections/writer.py).
-- ARGV, flat (no JSON to decode):
--   epoch_key epoch pos_key pos seq_prefix chan_prefix moved_chan
--   ngens {gen_key gen}*ngens  ncks {ck_key expected new}*ncks
--   then the op stream: its header (3 bytes per command: code, argc high, argc low), then
--   each command's arguments (projections/changes.py: OPS lists the codes, NAMES below too)
-- Fenced (another owner, a swapped generation, a moved checkpoint): nothing is written.
-- The fencing reads are one MGET and the checkpoints' and position's writes one MSET: a call
-- from Lua costs Redis more than the GET or SET it runs, and a script made ~15 of them.
local A = ARGV
local ngens = tonumber(A[8])
local cks = 9 + 2 * ngens + 1
local ncks = tonumber(A[cks - 1])
local reads = {A[1], A[3]}
for j = 9, cks - 2, 2 do
  reads[#reads + 1] = A[j]
end
for j = cks, cks + 3 * (ncks - 1), 3 do
  reads[#reads + 1] = A[j]
end
local found = redis.call('MGET', unpack(reads))
if found[1] ~= A[2] then
  return redis.error_reply('FENCED epoch')
end
local r = 3
for j = 9, cks - 2, 2 do
  if (found[r] or '1') ~= A[j + 1] then
    return redis.error_reply('FENCED generation')
  end
  r = r + 1
end
for j = cks, cks + 3 * (ncks - 1), 3 do
  if (found[r] or '') ~= A[j + 1] then
    return redis.error_reply('FENCED checkpoint')
  end
  r = r + 1
end
local i = cks + 3 * ncks

local book, trades, symbols = {}, {}, {}
local function touch(symbol)
  if not book[symbol] then
    book[symbol] = {}
    trades[symbol] = {}
    symbols[#symbols + 1] = symbol
  end
end

local function levels_of(s, argc) -- L2 levels_key qty_key symbol side {price delta}*
  local levels_key, qty_key, symbol, side = A[s], A[s + 1], A[s + 2], A[s + 3]
  touch(symbol)
  local levels = book[symbol]
  for j = s + 4, s + argc - 1, 2 do
    local price, delta = A[j], A[j + 1]
    local q = redis.call('HINCRBY', qty_key, price, delta)
    if q <= 0 then
      redis.call('HDEL', qty_key, price)
      redis.call('ZREM', levels_key, price)
      q = 0
    elseif q - tonumber(delta) <= 0 then -- (a level is in the zset exactly while its quantity is positive)
      redis.call('ZADD', levels_key, price, price)
    end
    levels[#levels + 1] = string.format('["%s",%s,%d]', side, price, q)
  end
end

local function own_scores(s, argc) -- ZADDM key member...: each member scored by its number
  local args = {A[s]}
  for j = s + 1, s + argc - 1 do
    args[#args + 1] = A[j]
    args[#args + 1] = A[j]
  end
  redis.call('ZADD', unpack(args))
end

local function trades_of(s, argc) -- TRADES key symbol cap id1 record1 id2 record2 ...
  local key, symbol = A[s], A[s + 1]
  touch(symbol)
  local list = trades[symbol]
  for j = s + 4, s + argc - 1, 2 do
    list[#list + 1] = A[j]
  end
  redis.call('ZADD', key, unpack(A, s + 3, s + argc - 1))
  local cap = tonumber(A[s + 2])
  local n = redis.call('ZCARD', key)
  if n > cap then
    redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1)
  end
end

local function candle(s) -- CANDLE index prefix bucket open_id open close_id close high low volume n
  local key = A[s + 1] .. A[s + 2]
  local cur = redis.call('HMGET', key, 'oi', 'ci', 'h', 'l')
  if not cur[1] then
    redis.call('HSET', key, 'oi', A[s + 3], 'o', A[s + 4], 'ci', A[s + 5], 'c', A[s + 6],
      'h', A[s + 7], 'l', A[s + 8], 'v', A[s + 9], 'n', A[s + 10])
    redis.call('ZADD', A[s], A[s + 2], A[s + 2])
    return
  end
  if tonumber(A[s + 3]) < tonumber(cur[1]) then redis.call('HSET', key, 'oi', A[s + 3], 'o', A[s + 4]) end
  if tonumber(A[s + 5]) > tonumber(cur[2]) then redis.call('HSET', key, 'ci', A[s + 5], 'c', A[s + 6]) end
  if tonumber(A[s + 7]) > tonumber(cur[3]) then redis.call('HSET', key, 'h', A[s + 7]) end
  if tonumber(A[s + 8]) < tonumber(cur[4]) then redis.call('HSET', key, 'l', A[s + 8]) end
  redis.call('HINCRBY', key, 'v', A[s + 9])
  redis.call('HINCRBY', key, 'n', A[s + 10])
end

local NAMES = {'MSET', 'DEL', 'HSET', 'ZREM', 'ZADD', 'RPUSH', 'L2', 'TRADES', 'CANDLE', 'ZADDM'}
local head, ops = A[i], 0
local s = i + 1
for h = 1, #head, 3 do
  local code, high, low = string.byte(head, h, h + 2)
  local argc = high * 256 + low
  if code == 10 then
    own_scores(s, argc)
  elseif code == 7 then
    levels_of(s, argc)
  elseif code == 8 then
    trades_of(s, argc)
  elseif code == 9 then
    candle(s)
  else
    redis.call(NAMES[code], unpack(A, s, s + argc - 1))
  end
  s = s + argc
  ops = ops + 1
end

local writes = {}
for j = cks, cks + 3 * (ncks - 1), 3 do
  writes[#writes + 1] = A[j]
  writes[#writes + 1] = A[j + 2]
end
local moved = tonumber(A[4]) > tonumber(found[2] or '0') -- (no op writes the position key)
if moved then
  writes[#writes + 1] = A[3]
  writes[#writes + 1] = A[4]
end
if #writes > 0 then
  redis.call('MSET', unpack(writes))
end
if moved and A[7] ~= '' then
  redis.call('PUBLISH', A[7], A[4])
end
if A[6] == '' then
  return ops
end
for _, symbol in ipairs(symbols) do
  local seq = redis.call('INCR', A[5] .. symbol)
  redis.call('PUBLISH', A[6] .. symbol, string.format(
    '{"seq":%d,"symbol":"%s","book":[%s],"trades":[%s]}',
    seq, symbol, table.concat(book[symbol], ','), table.concat(trades[symbol], ',')))
end
return ops
