-- cr.listeners{netns = "all"} without privilege: the namespaces of other
-- users' processes cannot be read, and info.namespaces_unreadable says how
-- many processes were skipped instead of leaving them out silently.
local testenv = require "testenv"
local dkjson = require "dkjson"
local q = testenv.quote

local NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups "

-- The namespaces cr.listeners{netns = "all"} lists (inode -> true) and its info.
local function listed(prefix)
  local code = [[
    local json = require "connrecipe.json"
    local _, info = cr.listeners { proto = "tcp", netns = "all" }
    local inodes = {}
    for _, ns in ipairs(info.namespaces) do inodes[#inodes + 1] = ns.inode end
    print(json.encode({ inodes = inodes, unreadable = info.namespaces_unreadable }))
  ]]
  local r = testenv.sh((prefix or "") .. q(testenv.bin) .. " -e " .. q(code))
  assert(r.code == 0, r.stderr .. r.stdout)
  local doc = assert(dkjson.decode(r.stdout), r.stdout)
  local set = {}
  for _, inode in ipairs(doc.inodes) do
    set[inode] = true
  end
  return set, doc.unreadable
end

describe("cr.listeners namespaces_unreadable", function()
  after_each(testenv.cleanup)

  it("counts the processes whose namespace nobody cannot read, and lists them as root", function()
    local why = testenv.needs_root() or (not testenv.have("setpriv") and "setpriv not installed")
      or (not testenv.have("unshare") and "unshare not installed")
    if why then
      return pending(why)
    end
    -- a root process alone in a namespace with no /run/netns name
    local dir = testenv.tmpdir()
    testenv.background("unshare -n sh -c " .. q("stat -L -c %i /proc/self/ns/net >" .. dir
      .. "/ns.tmp && mv " .. dir .. "/ns.tmp " .. dir .. "/ns && exec sleep 60"))
    assert(testenv.wait_for(function()
      return testenv.read_file(dir .. "/ns") ~= nil
    end), "the process in its own namespace did not start")
    local inode = math.tointeger(tonumber(testenv.read_file(dir .. "/ns"):match("%d+")))

    local as_root = listed()
    assert.is_true(as_root[inode], "root does not list the namespace")

    local as_nobody, unreadable = listed(NOBODY)
    assert.is_nil(as_nobody[inode], "nobody should not see the namespace")
    assert.is_number(unreadable)
    assert.is_true(unreadable >= 1, "the skipped process was not counted")
    -- listeners.lua --all-netns says so on stderr; the table stays on stdout
    local r = testenv.sh(NOBODY .. q(testenv.bin) .. " listeners.lua --all-netns --proto tcp")
    assert.equal(0, r.code, r.stderr)
    assert.matches("^PROTO ", r.stdout)
    assert.matches("connrecipe: listeners: the network namespace of %d+ process%(es%) could not be read", r.stderr)
  end)
end)
