-- The bash completion script (scripts/connrecipe-completion.bash), run by a
-- real bash against the built executable, found on PATH as `connrecipe`.
local testenv = require "testenv"
local quote = testenv.quote
local script = testenv.source_dir .. "/scripts/connrecipe-completion.bash"

after_each(testenv.cleanup)

-- The completions bash offers for the command line `words`, the last word being
-- the one under the cursor; env: extra environment assignments.
local function complete(words, env)
  local quoted = {}
  for i, w in ipairs(words) do
    quoted[i] = quote(w)
  end
  local bin_dir = testenv.bin:match("^(.*)/[^/]+$")
  local code = ("source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _connrecipe; printf '%%s\\n' \"${COMPREPLY[@]}\"")
    :format(quote(script), table.concat(quoted, " "), #words - 1)
  local r = testenv.sh(("%s PATH=%s:\"$PATH\" bash -c %s"):format(env or "", quote(bin_dir), quote(code)))
  assert.equal(0, r.code, r.stderr)
  local got = {}
  for line in r.stdout:gmatch("[^\n]+") do
    got[#got + 1] = line
  end
  table.sort(got)
  return got
end

local function contains(list, item)
  for _, v in ipairs(list) do
    if v == item then
      return true
    end
  end
  return false
end

describe("bash completion", function()
  it("the executable is named connrecipe, as the completion expects", function()
    assert.matches("/connrecipe$", testenv.bin)
  end)

  it("registers itself for the connrecipe command", function()
    local r = testenv.sh("bash -c " .. quote("source " .. quote(script) .. " && complete -p connrecipe"))
    assert.equal(0, r.code, r.stderr)
    assert.matches("-F _connrecipe connrecipe", r.stdout, 1, true)
  end)

  it("completes program options", function()
    assert.same({ "--verbose", "--version" }, complete { "connrecipe", "--ver" })
    assert.same({ "--color=" }, complete { "connrecipe", "--co" })
    local all = complete { "connrecipe", "-" }
    for _, o in ipairs { "--json", "-v", "-q", "--deadline", "-e", "-l", "-i", "--list", "--help" } do
      assert.is_true(contains(all, o), o)
    end
  end)

  it("completes built-in recipe names, skipping option values", function()
    local all = complete { "connrecipe", "" }
    assert.is_true(contains(all, "scan.lua"))
    assert.is_true(contains(all, "waitfor.lua"))
    assert.same({ "wait-for-it.lua", "waitfor.lua" },
      complete { "connrecipe", "--json", "-e", "x = 1", "--deadline", "5", "wa" })
    assert.same({ "scan.lua" }, complete { "connrecipe", "--color", "=", "never", "sc" })
  end)

  it("completes --color values, with '=' as a word break or a space", function()
    assert.same({ "always", "auto", "never" }, complete { "connrecipe", "--color", "=" })
    assert.same({ "always" }, complete { "connrecipe", "--color", "=", "al" })
    assert.same({ "always", "auto", "never" }, complete { "connrecipe", "scan.lua", "--color", "" })
  end)

  it("completes --format values, after the recipe too, and skips one to find the recipe", function()
    local formats = { "json", "junit", "nagios", "prometheus", "tap", "text" }
    assert.same(formats, complete { "connrecipe", "--format", "=" })
    assert.same({ "junit" }, complete { "connrecipe", "--format", "=", "ju" })
    assert.same(formats, complete { "connrecipe", "diagnose.lua", "--format", "" })
    assert.same({ "scan.lua" }, complete { "connrecipe", "--format", "tap", "sc" })
    assert.same({ "--format=" }, complete { "connrecipe", "--fo" })
  end)

  it("completes a recipe's declared options and the shared ones", function()
    local got = complete { "connrecipe", "scan.lua", "127.0.0.1", "--" }
    for _, o in ipairs { "--ports", "--timeout", "--concurrency", "--json", "--format=", "--deadline", "--help" } do
      assert.is_true(contains(got, o), o)
    end
    assert.is_false(contains(got, "--list"))
    assert.same({ "--timeout" }, complete { "connrecipe", "-q", "waitfor.lua", "127.0.0.1:1", "--t" })
    assert.same({ "--invert" }, complete { "connrecipe", "waitfor", "127.0.0.1:1", "--inv" })
  end)

  it("completes wait-for-it's own options in the wait-for-it mode", function()
    assert.same({ "--strict" }, complete { "connrecipe", "wait-for-it", "db:5432", "--s" })
    assert.same({ "--timeout=" }, complete { "connrecipe", "wait-for-it.lua", "db:5432", "--t" })
    assert.is_false(contains(complete { "connrecipe", "wait-for-it", "db:5432", "-" }, "--json"))
  end)

  it("offers nothing of its own after the recipe's '--' or for an option value", function()
    assert.same({}, complete { "connrecipe", "waitfor.lua", "127.0.0.1:1", "--", "" })
    assert.same({}, complete { "connrecipe", "--deadline", "" })
    assert.same({}, complete { "connrecipe", "-e", "" })
  end)

  it("finds recipes and their options on CONNRECIPE_PATH", function()
    local dir = testenv.trusted_tmpdir()
    testenv.write_file(dir .. "/zz_site_check.lua", [[
-- A site check for the completion test.
return cr.recipe {
  name = "zz_site_check",
  params = {
    { "host", positional = true, help = "host" },
    { "frobnicate", type = "integer", default = 1, help = "how hard" },
  },
  run = function() return 0 end,
}
]])
    local env = "CONNRECIPE_PATH=" .. quote(dir)
    assert.same({ "zz_site_check.lua" }, complete({ "connrecipe", "zz" }, env))
    assert.same({ "--frobnicate" }, complete({ "connrecipe", "zz_site_check.lua", "--fr" }, env))
    assert.same({ "--frobnicate" }, complete { "connrecipe", dir .. "/zz_site_check.lua", "--fr" })
  end)

  it("never runs a plain-script recipe to learn its options", function()
    local dir = testenv.trusted_tmpdir()
    local marker = dir .. "/ran"
    testenv.write_file(dir .. "/zz_plain.lua", ("io.open(%q, 'w'):close()\n"):format(marker))
    local env = "CONNRECIPE_PATH=" .. quote(dir)
    assert.same({ "--json" }, complete({ "connrecipe", "zz_plain.lua", "--js" }, env))
    assert.same({ "--json" }, complete { "connrecipe", dir .. "/zz_plain.lua", "--js" })
    assert.is_nil(testenv.read_file(marker))
    -- the check can fail: running the script does leave the marker
    assert.equal(0, testenv.run({ "zz_plain.lua" }, { env = env }).code)
    assert.is_not_nil(testenv.read_file(marker))
  end)
end)
