-- Apply one batch of net changes and its checkpoints atomically (projections/writer.py).
-- ARGV, flat (no JSON to decode):
--   epoch_key epoch pos_key pos seq_prefix chan_prefix moved_chan
--   ngens {gen_key gen}*ngens  ncks {ck_key expected new}*ncks
--   then the op stream: {name argc arg1..argc}* (projections/changes.py)
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

local function level(s) -- L2 levels_key qty_key symbol side price delta
  local levels_key, qty_key, symbol, price = A[s], A[s + 1], A[s + 2], A[s + 4]
  local q = redis.call('HINCRBY', qty_key, price, A[s + 5])
  if q <= 0 then
    redis.call('HDEL', qty_key, price)
    redis.call('ZREM', levels_key, price)
    q = 0
  elseif q - tonumber(A[s + 5]) <= 0 then -- (a level is in the zset exactly while its quantity is positive)
    redis.call('ZADD', levels_key, price, price)
  end
  touch(symbol)
  local levels = book[symbol]
  levels[#levels + 1] = string.format('["%s",%s,%d]', A[s + 3], price, q)
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

local n, ops = #A, 0
while i <= n do
  local name, argc = A[i], tonumber(A[i + 1])
  local s = i + 2
  if name == 'L2' then
    level(s)
  elseif name == 'TRADES' then
    trades_of(s, argc)
  elseif name == 'CANDLE' then
    candle(s)
  else
    redis.call(name, unpack(A, s, s + argc - 1))
  end
  i = s + argc
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
