-- The executable's standard streams: started with 0, 1 or 2 closed (`<&-`,
-- `>&-`, `2>&-`) it runs as if they were /dev/null, and so do the programs it
-- spawns; a write to stdout that fails (a full disk, /dev/full) fails the run
-- with one line and exit status 3, while a reader that leaves early
-- (`| head -1`) is a quiet end with the run's own status.
local testenv = require "testenv"
local dkjson = require "dkjson"
local q = testenv.quote

after_each(testenv.cleanup)

local bin = q(testenv.bin)

-- `connrecipe -e code` with a shell redirection such as "<&-" applied to it alone
local function run_closed(redirect, code)
  return testenv.sh(bin .. " -e " .. q(code) .. " " .. redirect)
end

describe("closed standard fds", function()
  -- the chunk runs children that read stdin and write both streams, and
  -- records what they did in a file: its own stdout or stderr may be closed
  local function children_chunk(file)
    return ([[
local a = assert(cr.exec{ "sh", "-c", "cat; echo out; echo err >&2" })
local b = assert(cr.exec{ "cat", stdin = "fed" })
print("to stdout")
io.stderr:write("to stderr\n")
local f = assert(io.open(%q, "w"))
f:write(a.status, "|", a.stdout, "|", a.stderr, "|", b.stdout)
f:close()
]]):format(file)
  end

  for _, redirect in ipairs { "<&-", ">&-", "2>&-", "<&- >&- 2>&-" } do
    it("runs, and its children work, with " .. redirect, function()
      local file = testenv.tmpdir() .. "/result"
      local r = run_closed(redirect, children_chunk(file))
      assert.equal(0, r.code, r.stderr)
      assert.equal("0|out\n|err\n|fed", testenv.read_file(file))
      assert.not_matches("Assertion", r.stderr)
    end)
  end

  it("stdin closed reads as empty for `connrecipe -`", function()
    local r = testenv.sh(bin .. " - <&-")
    assert.equal(0, r.code, r.stderr)
    assert.equal("", r.stdout)
  end)
end)

describe("closed standard fds and the verdict", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { needs = { "nft", "socat" } })

  -- diagnose.lua --json inside the namespace, its own fds redirected
  local function diagnose(port, redirect)
    local cmd = "sh -c " .. q("exec " .. bin .. " diagnose.lua --json 127.0.0.1:" .. port .. " " .. redirect)
    return testenv.sh(testenv.in_netns(netns(), cmd))
  end

  it("is the same with stdin or stderr closed: the nft rule is still read and quoted", function()
    local ns = netns()
    local port = 47311
    testenv.tcp_listen(ns, port)
    testenv.sh_in(ns, "nft add table inet crtest")
    testenv.sh_in(ns, "nft add chain inet crtest in '{ type filter hook input priority 0; }'")
    testenv.sh_in(ns, "nft add rule inet crtest in tcp dport " .. port .. " reject with icmpx type admin-prohibited")
    for _, redirect in ipairs { "", "<&-", "2>&-", "<&- 2>&-" } do
      local r = diagnose(port, redirect)
      local doc = dkjson.decode(r.stdout)
      assert.is_table(doc, "no JSON with '" .. redirect .. "': " .. r.stdout .. r.stderr)
      assert.equal("firewall-reject", doc.verdict, redirect)
      assert.matches("nft delete rule inet crtest in handle %d+", dkjson.encode(doc.findings), 1, false)
      assert.equal(1, r.code, redirect)
    end
    assert.equal(1, diagnose(port, ">&-").code) -- the same verdict's status, output discarded
  end)
end)

describe("write errors on stdout", function()
  local function one_line_about_stdout(r)
    assert.equal(3, r.code, r.stderr)
    assert.matches("^connrecipe: cannot write to standard output[^\n]*\n$", r.stderr)
  end

  it("listeners.lua --json >/dev/full exits 3 with one line", function()
    one_line_about_stdout(testenv.sh(bin .. " listeners.lua --json >/dev/full"))
  end)

  it("a short output that fails only at the final flush exits 3 and names the reason", function()
    local r = testenv.sh(bin .. " -e 'io.write(\"x\")' >/dev/full")
    one_line_about_stdout(r)
    assert.matches("No space left on device", r.stderr, 1, true)
  end)

  it("output larger than the stdio buffer, and os.exit, still exit 3", function()
    one_line_about_stdout(testenv.sh(bin .. " -e 'for i = 1, 100000 do io.write(i, \"\\n\") end' >/dev/full"))
    one_line_about_stdout(testenv.sh(bin .. " -e 'print(1) os.exit(0)' >/dev/full"))
  end)

  it("--list, --version and --help to /dev/full exit 3", function()
    for _, opt in ipairs { "--list", "--version", "--help" } do
      one_line_about_stdout(testenv.sh(bin .. " " .. opt .. " >/dev/full"))
    end
  end)

  it("a reader that closes the pipe early is a quiet end with the run's status", function()
    -- far more than a pipe holds, so the writes after `head` left fail (EPIPE)
    local loop = "for i = 1, 200000 do print(i) end "
    for code, ret in pairs { [0] = "", [1] = "return 1" } do
      local r = testenv.sh("{ " .. bin .. " -e " .. q(loop .. ret) .. "; echo status=$? >&2; } | head -1")
      assert.equal("1\n", r.stdout)
      assert.equal("status=" .. code .. "\n", r.stderr)
    end
  end)
end)
