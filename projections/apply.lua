-- Apply one batch of net changes and its checkpoints atomically (projections/writer.py).
-- ARGV[1] = JSON {epoch_key, epoch, gens = [[key, gen]], cks = [[key, expected, new]],
--                 pos_key, pos, seq_prefix, chan_prefix, ops = [[cmd, args...]]}
-- Fenced (another owner, a swapped generation, a moved checkpoint): nothing is written.
local p = cjson.decode(ARGV[1])
if redis.call('GET', p.epoch_key) ~= p.epoch then
  return redis.error_reply('FENCED epoch')
end
for _, g in ipairs(p.gens) do
  if (redis.call('GET', g[1]) or '1') ~= g[2] then
    return redis.error_reply('FENCED generation')
  end
end
for _, c in ipairs(p.cks) do
  if (redis.call('GET', c[1]) or '') ~= c[2] then
    return redis.error_reply('FENCED checkpoint')
  end
end

local book, trades, symbols = {}, {}, {}
local function touch(symbol)
  if not book[symbol] then
    book[symbol] = {}
    trades[symbol] = {}
    symbols[#symbols + 1] = symbol
  end
end

local function level(op) -- L2 levels_key qty_key symbol side price delta
  local q = redis.call('HINCRBY', op[3], op[6], op[7])
  if q <= 0 then
    redis.call('HDEL', op[3], op[6])
    redis.call('ZREM', op[2], op[6])
    q = 0
  else
    redis.call('ZADD', op[2], op[6], op[6])
  end
  touch(op[4])
  local levels = book[op[4]]
  levels[#levels + 1] = string.format('["%s",%s,%d]', op[5], op[6], q)
end

local function trades_of(op) -- TRADES key symbol cap id1 record1 id2 record2 ...
  local scored, list = {}, nil
  touch(op[3])
  list = trades[op[3]]
  for i = 5, #op, 2 do
    scored[#scored + 1] = op[i]
    scored[#scored + 1] = op[i + 1]
    list[#list + 1] = op[i + 1]
  end
  redis.call('ZADD', op[2], unpack(scored))
  local cap = tonumber(op[4])
  local n = redis.call('ZCARD', op[2])
  if n > cap then
    redis.call('ZREMRANGEBYRANK', op[2], 0, n - cap - 1)
  end
end

local function candle(op) -- CANDLE index prefix bucket open_id open close_id close high low volume n
  local key = op[3] .. op[4]
  local cur = redis.call('HMGET', key, 'oi', 'ci', 'h', 'l')
  if not cur[1] then
    redis.call('HSET', key, 'oi', op[5], 'o', op[6], 'ci', op[7], 'c', op[8],
      'h', op[9], 'l', op[10], 'v', op[11], 'n', op[12])
    redis.call('ZADD', op[2], op[4], op[4])
    return
  end
  if tonumber(op[5]) < tonumber(cur[1]) then redis.call('HSET', key, 'oi', op[5], 'o', op[6]) end
  if tonumber(op[7]) > tonumber(cur[2]) then redis.call('HSET', key, 'ci', op[7], 'c', op[8]) end
  if tonumber(op[9]) > tonumber(cur[3]) then redis.call('HSET', key, 'h', op[9]) end
  if tonumber(op[10]) < tonumber(cur[4]) then redis.call('HSET', key, 'l', op[10]) end
  redis.call('HINCRBY', key, 'v', op[11])
  redis.call('HINCRBY', key, 'n', op[12])
end

for _, op in ipairs(p.ops) do
  local name = op[1]
  if name == 'L2' then
    level(op)
  elseif name == 'TRADES' then
    trades_of(op)
  elseif name == 'CANDLE' then
    candle(op)
  else
    redis.call(unpack(op))
  end
end

for _, c in ipairs(p.cks) do
  redis.call('SET', c[1], c[3])
end
if tonumber(p.pos) > tonumber(redis.call('GET', p.pos_key) or '0') then
  redis.call('SET', p.pos_key, p.pos)
end
if p.chan_prefix == '' then
  return #p.ops
end
for _, symbol in ipairs(symbols) do
  local seq = redis.call('INCR', p.seq_prefix .. symbol)
  redis.call('PUBLISH', p.chan_prefix .. symbol, string.format(
    '{"seq":%d,"symbol":"%s","book":[%s],"trades":[%s]}',
    seq, symbol, table.concat(book[symbol], ','), table.concat(trades[symbol], ',')))
end
return #p.ops
