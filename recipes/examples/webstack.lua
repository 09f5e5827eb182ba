-- Is our web stack up? Checks the web app, its redis and its postgres, and says which one is down.
-- The tutorial in docs/recipes.md builds this recipe step by step. Copy it to
-- ~/.config/connrecipe/recipes/ and run: connrecipe webstack [--web ...]

local investigate = require "connrecipe.investigate"
local checklist = require "connrecipe.checklist"

local function check(name)
  return checklist.lazy(name) -- connrecipe.checks.NAME, loaded when it first runs
end

-- diagnose's checks (recipes/diagnose.lua), but the proxy one: we connect directly
local CAUSES = {
  check "resolve", check "unix", check "reachable", check "holders", check "service", check "address",
  check "netns", check "listener", check "device", check "firewall", check "backlog", check "refusal",
  check "connect", check "remote", check "gaps",
}

-- One probe, whatever the target is: a TCP address or a Unix socket.
local function probe(target, opts)
  if target.kind == "unix" then
    return cr.probe.unix(target.path)
  end
  return cr.probe.tcp(target.host, target.port, opts)
end

-- Why a component is down: diagnose's verdict for its target, or nil.
local function cause(ctx, target, timeout)
  local facts = investigate.target(ctx, { target = target, timeout = timeout })
  local verdict = checklist.explain(facts, CAUSES)
  return verdict and verdict.severity ~= "ok" and verdict or nil
end

-- A finding for one component: up, or down with its cause and the fix to try first.
local function judge(ctx, name, target, result, err, timeout)
  if result and result.status == "open" then
    ctx:finding { id = name .. "-up", severity = "ok", summary = ("%s answers on %s"):format(name, target.display) }
    return true
  end
  local status = result and result.status or ("error: " .. tostring(err))
  local evidence = {}
  for _, r in ipairs(result and result.results or {}) do -- one line per address tried
    evidence[#evidence + 1] = ("%s: %s (%s)"):format(r.addr, r.status, tostring(r.errno))
  end
  local why = cause(ctx, target, timeout)
  if why then
    evidence[#evidence + 1] = ("why: %s: %s"):format(why.id, why.summary)
    for _, line in ipairs(type(why.evidence) == "table" and why.evidence or {}) do
      evidence[#evidence + 1] = line
    end
  end
  ctx:finding {
    id = name .. "-down", severity = "error",
    summary = ("%s is down: %s is %s"):format(name, target.display, status),
    evidence = evidence,
    fix = why and why.fix or ("connrecipe diagnose %s -v   # what was read"):format(target.display),
  }
  return false
end

return cr.recipe {
  name = "webstack",
  description = "Is our web stack up? Checks the web app, its redis and its postgres, and says which one is down.",
  params = {
    { "web", type = "target", default = "localhost:8443", help = "the web app" },
    { "redis", type = "target", default = "unix:/run/redis/redis-server.sock", help = "its redis" },
    { "postgres", type = "target", default = "localhost:5432", help = "its postgres" },
    { "timeout", type = "number", default = 2, min = 0.01, metavar = "S", help = "seconds per check" },
  },
  run = function(ctx, args)
    local opts = { timeout = args.timeout }
    -- the three checks run at the same time: the slowest one sets the pace
    local web, redis, postgres = cr.all {
      function()
        local http = { timeout = args.timeout, send = "HEAD / HTTP/1.0\r\n\r\n" }
        return { ctx:check("web app " .. args.web.display, probe, args.web, http) }
      end,
      function()
        return { ctx:check("redis " .. args.redis.display, probe, args.redis, opts) }
      end,
      function()
        return { ctx:check("postgres " .. args.postgres.display, probe, args.postgres, opts) }
      end,
    }
    -- the backends first: when they are down, the web app's trouble follows from them
    local db_up = judge(ctx, "postgres", args.postgres, postgres[1], postgres[2], args.timeout)
    local cache_up = judge(ctx, "redis", args.redis, redis[1], redis[2], args.timeout)
    local web_up = judge(ctx, "web", args.web, web[1], web[2], args.timeout)
    if web_up and web[1].banner and not web[1].banner:match("^HTTP/%d") then
      ctx:finding { id = "web-not-http", severity = "warn",
                    summary = ("%s accepts connections but does not answer HTTP"):format(args.web.display) }
    end
    if db_up and cache_up and web_up then
      ctx:finding { id = "all-up", severity = "ok", summary = "the web app, redis and postgres all answer" }
      ctx:verdict("all-up")
    elseif not db_up then
      ctx:verdict("postgres-down")
    elseif not cache_up then
      ctx:verdict("redis-down")
    end
  end,
}
