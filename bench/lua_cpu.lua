-- A CPU-bound Lua workload for bench/lua-cpu.sh: calls, arithmetic, tables,
-- strings, closures and coroutine switches; no I/O. Prints a checksum so that
-- every interpreter is seen to do the same work.
local scale = tonumber(arg and arg[1]) or 1

local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

local function tables(n)
  local t, sum = {}, 0
  for i = 1, n do t[i] = { id = i, name = "item" .. i % 100 } end
  table.sort(t, function(a, b) return a.name < b.name or (a.name == b.name and a.id < b.id) end)
  for i = 1, n, 7 do sum = sum + t[i].id end
  return sum
end

local function strings(n)
  local parts = {}
  for i = 1, n do parts[#parts + 1] = ("%d:%x"):format(i, i * 31) end
  local s = table.concat(parts, ",")
  local count = 0
  for _ in s:gmatch("%d+:[%da-f]+") do count = count + 1 end
  return count + #s:gsub("1", "one")
end

local function closures(n)
  local acc = 0
  for i = 1, n do
    local f = function(x) return x + i end
    acc = acc + f(i) % 7
  end
  return acc
end

local function coroutines(n)
  local gen = coroutine.wrap(function()
    for i = 1, n do coroutine.yield(i) end
  end)
  local sum = 0
  for _ = 1, n do sum = sum + gen() end
  return sum
end

local sum = 0
for _ = 1, scale do
  sum = sum + fib(27) + tables(60000) + strings(60000) + closures(600000) + coroutines(150000)
end
print(sum)
