-- ansible/: the connrecipe module and fleet-diagnose.yml, for real: three
-- managed hosts, each a private network namespace with its own sshd (its
-- own config and host key, key authentication as root), joined by veth
-- pairs to a bridge in a controller namespace where ansible runs over ssh
-- with the test's own key, ssh config and known_hosts. Each host has a
-- different fault on its service port: h1 serves it, nothing listens on h2,
-- h3 listens behind an iptables DROP rule. The ports come from a block no
-- other namespace uses (diagnose looks for listeners in every namespace).
local testenv = require "testenv"
local dkjson = require "dkjson"

local q = testenv.quote
local SUBNET = "10.231.7."
local HOSTS = { h1 = SUBNET .. "11", h2 = SUBNET .. "12", h3 = SUBNET .. "13" }
local NAMES = { "h1", "h2", "h3" }
local DOWN = SUBNET .. "14" -- on the controller's bridge: ssh there is refused
local port = {} -- host -> its service port, from testenv.port_block()
-- a probe's connection makes socat fork a child, which holds the listener
-- until it ends: a later look may find both ("pids A, B")
local SERVED_BY_SOCAT = "^socat %(pids? %d+[%d, ]*%)$"

local function target(name)
  return HOSTS[name] .. ":" .. port[name]
end

-- Why this spec cannot run here, or nil.
local function missing()
  local why = testenv.needs_root()
  for _, prog in ipairs { "ansible", "ansible-playbook", "/usr/sbin/sshd", "ssh", "ssh-keygen", "iptables", "socat" } do
    if not why and not testenv.have(prog) then
      why = prog .. " not installed (apt-get install ansible-core openssh-server)"
    end
  end
  return why
end

describe("ansible", function()
  local gate = testenv.setup_gate(function(why)
    pending(why)
  end)
  local ctl, dir, ns = nil, nil, {}

  -- A shell command line in the controller namespace with ansible's
  -- settings pointing into the test's directory (never ~/.ansible, ~/.ssh).
  local function controller(cmd)
    local env = table.concat({
      "HOME=" .. q(dir .. "/home"),
      "ANSIBLE_CONFIG=" .. q(dir .. "/ansible.cfg"),
      "ANSIBLE_LIBRARY=" .. q(testenv.source_dir .. "/ansible/library"),
      "ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0", "PWD=" .. q(dir),
    }, " ")
    return testenv.sh(testenv.in_netns(ctl, "env " .. env .. " sh -c " .. q("cd " .. q(dir) .. " && " .. cmd)))
  end

  local function start_sshd(name)
    local hostdir = dir .. "/" .. name
    testenv.sh_ok("mkdir -p " .. q(hostdir) .. " && ssh-keygen -q -t ed25519 -N '' -f " .. q(hostdir .. "/host_key"))
    testenv.write_file(hostdir .. "/sshd_config", table.concat({
      "ListenAddress " .. HOSTS[name],
      "Port 22",
      "HostKey " .. hostdir .. "/host_key",
      "PidFile " .. hostdir .. "/sshd.pid",
      "AuthorizedKeysFile " .. dir .. "/authorized_keys",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "", }, "\n"))
    testenv.background_in(ns[name], "/usr/sbin/sshd -D -e -f " .. q(hostdir .. "/sshd_config"))
    assert(testenv.wait_listening(ns[name], "tcp", 22), "sshd did not start on " .. name)
    local key = testenv.read_file(hostdir .. "/host_key.pub"):match("^(%S+ %S+)")
    return HOSTS[name] .. " " .. key .. "\n"
  end

  local function join(name, index)
    local here, there = "crv" .. index, "crp" .. index
    testenv.sh_ok(testenv.in_netns(ctl, ("ip link add %s type veth peer name %s"):format(here, there)))
    testenv.sh_ok(testenv.in_netns(ctl, ("ip link set %s netns %s"):format(there, ns[name])))
    testenv.sh_ok(testenv.in_netns(ctl, ("ip link set %s master br0 up"):format(here)))
    testenv.sh_ok(testenv.in_netns(ns[name], ("ip link set %s name eth0"):format(there)))
    testenv.sh_ok(testenv.in_netns(ns[name], ("ip addr add %s/24 dev eth0"):format(HOSTS[name])))
    testenv.sh_ok(testenv.in_netns(ns[name], "ip link set eth0 up"))
  end

  local function write_inventory()
    local lines = { "[fleet]" }
    for _, name in ipairs(NAMES) do
      lines[#lines + 1] = ("%s ansible_host=%s"):format(name, HOSTS[name])
    end
    lines[#lines + 1] = "[fleet:vars]"
    lines[#lines + 1] = "ansible_user=root"
    lines[#lines + 1] = "ansible_connection=ssh"
    lines[#lines + 1] = "ansible_ssh_private_key_file=" .. dir .. "/id"
    lines[#lines + 1] = "ansible_ssh_common_args='-F " .. dir .. "/ssh_config'"
    lines[#lines + 1] = "ansible_connrecipe_interpreter=" .. testenv.bin
    lines[#lines + 1] = "ansible_become_method=su"
    testenv.write_file(dir .. "/inventory", table.concat(lines, "\n") .. "\n")
    -- the fleet's inventory has a fourth host, whose address answers but runs no sshd
    table.insert(lines, 5, ("h4 ansible_host=%s"):format(DOWN))
    testenv.write_file(dir .. "/fleet-inventory", table.concat(lines, "\n") .. "\n")
    testenv.write_file(dir .. "/ssh_config", table.concat({
      "Host *",
      "  UserKnownHostsFile " .. dir .. "/known_hosts",
      "  GlobalKnownHostsFile /dev/null",
      "  StrictHostKeyChecking yes",
      "  IdentitiesOnly yes",
      "  BatchMode yes",
      "", }, "\n"))
    testenv.write_file(dir .. "/ansible.cfg", table.concat({
      "[defaults]",
      "local_tmp = " .. dir .. "/home/.ansible/tmp",
      "remote_tmp = " .. dir .. "/remote-tmp", -- for localhost too: never ~root/.ansible
      "interpreter_python = /usr/bin/python3",
      "retry_files_enabled = false",
      "[ssh_connection]",
      "control_path_dir = " .. dir .. "/cp",
      "", }, "\n"))
  end

  setup(function()
    gate.why = missing()
    if gate.why then
      return
    end
    dir = testenv.tmpdir()
    testenv.sh_ok("mkdir -p /run/sshd && mkdir -p " .. q(dir .. "/home") .. " " .. q(dir .. "/cp"))
    ctl = testenv.netns()
    testenv.sh_ok(testenv.in_netns(ctl, "ip link add br0 type bridge"))
    testenv.sh_ok(testenv.in_netns(ctl, "ip addr add " .. SUBNET .. "1/24 dev br0"))
    testenv.sh_ok(testenv.in_netns(ctl, "ip addr add " .. DOWN .. "/24 dev br0"))
    testenv.sh_ok(testenv.in_netns(ctl, "ip link set br0 up"))
    testenv.sh_ok("ssh-keygen -q -t ed25519 -N '' -f " .. q(dir .. "/id"))
    testenv.sh_ok("cp " .. q(dir .. "/id.pub") .. " " .. q(dir .. "/authorized_keys"))
    local known = {}
    for i, name in ipairs(NAMES) do
      ns[name] = testenv.netns()
      join(name, i)
      known[#known + 1] = start_sshd(name)
    end
    testenv.write_file(dir .. "/known_hosts", table.concat(known))
    write_inventory()
    -- the faults: h1 serves the port, nothing listens on h2, h3 drops it
    local base = testenv.port_block()
    port = { h1 = base + 1, h2 = base + 2, h3 = base + 3 }
    -- they serve every test of the spec: ansible runs take minutes on a busy machine
    testenv.tcp_listen(ns.h1, port.h1, { bind = HOSTS.h1, seconds = 600 })
    testenv.tcp_listen(ns.h3, port.h3, { bind = HOSTS.h3, seconds = 600 })
    testenv.sh_ok(testenv.in_netns(ns.h3, "iptables -A INPUT -p tcp --dport " .. port.h3 .. " -j DROP"))
  end)

  teardown(testenv.cleanup)

  -- ad hoc: `ansible all -b -m connrecipe -a 'target=...'`, one result per host
  local function adhoc(args)
    local r = controller("ansible all -i inventory -b -m connrecipe -o -a " .. q(args))
    local results = {}
    for host, status, body in r.stdout:gmatch("(%w+) | (%u+)!? => (%b{})") do
      results[host] = { status = status, result = dkjson.decode(body) }
    end
    return r, results
  end

  it("runs the module on every host over ssh and gives each host's verdict", function()
    gate.check()
    local r, results = adhoc("target=" .. target("h2") .. " timeout=1")
    assert.is_truthy(results.h1, r.stdout .. r.stderr)
    -- from h1 and h3 the port is refused on h2; on h2 itself nothing listens
    for host, verdict in pairs { h1 = "remote-refused", h2 = "no-listener", h3 = "remote-refused" } do
      local got = results[host]
      assert.is_truthy(got, host .. " missing: " .. r.stdout .. r.stderr)
      assert.equal(verdict, got.result.verdict, host)
      assert.equal("FAILED", got.status, host)
      assert.is_false(got.result.changed)
      assert.equal("error", got.result.severity)
      assert.equal(verdict, got.result.report.verdict) -- the whole --json document
      assert.equal(got.result.report.findings[1].summary, got.result.msg)
    end
    assert.equal(2, r.code) -- ansible's "a host failed"
  end)

  it("names the process that serves the port and passes when the verdict is ok", function()
    gate.check()
    local r, results = adhoc("target=" .. target("h1") .. " timeout=1")
    local h1 = assert(results.h1, r.stdout .. r.stderr).result
    assert.equal("reachable", h1.verdict)
    assert.is_falsy(h1.failed) -- Ansible leaves out "failed": false
    assert.matches(SERVED_BY_SOCAT, h1.process)
    assert.equal(0, r.code, r.stdout)
  end)

  -- A listener two processes hold (a parent and the child it forked): diagnose
  -- names both, "python3 (pids A, B)", and so does the module's process. Run as
  -- Ansible runs it on the host: the interpreter, the module, a JSON file of
  -- arguments.
  it("names every process that holds the port", function()
    gate.check()
    local shared = port.h1 + 3
    local ready = dir .. "/shared-ready"
    testenv.background_in(ns.h1, "python3 -c " .. q(table.concat({
      "import os, socket, time",
      ("s = socket.socket(); s.bind((%q, %d)); s.listen()"):format(HOSTS.h1, shared),
      "child = os.fork()",
      ("child and open(%q, 'w').write(str(child))"):format(ready),
      "time.sleep(600)",
    }, "\n")))
    assert(testenv.wait_for(function()
      return testenv.read_file(ready)
    end, 30), "the shared listener did not start")
    local args = dir .. "/shared-args.json"
    testenv.write_file(args, dkjson.encode { target = HOSTS.h1 .. ":" .. shared, timeout = 1 })
    local r = testenv.sh(testenv.in_netns(ns.h1, ("%s %s %s"):format(q(testenv.bin),
      q(testenv.source_dir .. "/ansible/library/connrecipe.lua"), q(args))))
    local result = assert(dkjson.decode(r.stdout), r.stdout .. r.stderr)
    assert.equal("reachable", result.verdict)
    assert.is_string(result.process, r.stdout)
    local a, b = result.process:match("^python3 %(pids (%d+), (%d+)%)$")
    assert(a, result.process)
    local child = testenv.read_file(ready)
    assert(child == a or child == b, child .. " is not among " .. result.process)
  end)

  it("does not fail with fail_on=never; bad arguments fail with the command line's message", function()
    gate.check()
    local r, results = adhoc("target=" .. target("h2") .. " timeout=1 fail_on=never")
    assert.equal(0, r.code, r.stdout .. r.stderr)
    assert.equal("no-listener", results.h2.result.verdict)
    assert.equal("SUCCESS", results.h2.status)
    r, results = adhoc("target=" .. target("h2") .. " fail_on=sometimes")
    assert.equal("fail_on: expected error, warn or never, got 'sometimes'", results.h1.result.msg, r.stdout)
    r, results = adhoc("target=" .. target("h2") .. " timeout=x")
    assert.equal("diagnose: --timeout: expected a number, got 'x' (see 'connrecipe diagnose --help')",
      results.h1.result.msg, r.stdout)
  end)

  -- diagnose run as root heads its report with a warning never (reachable
  -- heads it beside them; a failure is an error): a warn verdict is a site
  -- playbook's, found on CONNRECIPE_PATH as `connrecipe NAME` finds it. This
  -- one says a port served to the host's own clients only (127.0.0.1) is a
  -- warning. h1 listens on 127.0.0.1 only, on a port of the block far from
  -- the others (no near-port findings for them).
  it("fail_on=warn fails on a verdict of severity warn, which fail_on=error passes", function()
    gate.check()
    local recipes = testenv.trusted_tmpdir()
    testenv.write_file(recipes .. "/loopback-only.lua", [[
return cr.recipe {
  name = "loopback-only",
  description = "A port only this host's own clients reach is a warning",
  params = { { "target", type = "target", positional = true, help = "HOST:PORT" } },
  run = function(ctx, args)
    local t = args.target
    local outside = ctx:check("probe " .. t.display, cr.probe.tcp, t.host, t.port, { timeout = 1 })
    local inside = ctx:check("probe 127.0.0.1:" .. t.port, cr.probe.tcp, "127.0.0.1", t.port, { timeout = 1 })
    if outside.status == "open" then
      ctx:finding { id = "served", severity = "ok", summary = t.display .. " accepts connections" }
    elseif inside.status == "open" then
      ctx:finding { id = "loopback-only", severity = "warn",
        summary = ("%s is %s; 127.0.0.1:%d accepts: only this host's clients get in"):format(t.display,
          outside.status, t.port) }
    else
      ctx:finding { id = "down", severity = "error", summary = t.display .. " is " .. outside.status }
    end
  end,
}
]])
    local p = port.h1 + 500
    testenv.tcp_listen(ns.h1, p, { bind = "127.0.0.1" })
    testenv.write_file(dir .. "/warn.yml", table.concat({
      "- hosts: h1",
      "  gather_facts: false",
      "  environment:",
      "    CONNRECIPE_PATH: " .. recipes,
      "  tasks:",
      "    - connrecipe:",
      "        recipe: loopback-only",
      "        target: " .. HOSTS.h1 .. ":" .. p,
      "        fail_on: '{{ fail_on }}'",
      "", }, "\n"))
    local function play(fail_on)
      local r = controller("ansible-playbook -v -i inventory warn.yml -e fail_on=" .. fail_on)
      local status, body = r.stdout:match("\n(%a+): %[h1%]:? ?F?A?I?L?E?D?!? => (%b{})")
      return r, status, body and dkjson.decode(body)
    end
    local r, status, result = play("error")
    assert.equal(0, r.code, r.stdout .. r.stderr)
    assert.equal("ok", status, r.stdout)
    assert.equal("loopback-only", result.verdict)
    assert.equal("warn", result.severity)
    assert.is_falsy(result.failed)
    r, status, result = play("warn")
    assert.equal(2, r.code, r.stdout .. r.stderr)
    assert.equal("fatal", status, r.stdout)
    assert.equal("loopback-only", result.verdict)
    assert.equal("warn", result.severity) -- Ansible shows a failed task's result without its "failed"
    assert.matches("only this host's clients get in", result.msg, 1, true)
  end)

  describe("fleet-diagnose.yml", function()
    local report, text, play

    local function run_playbook()
      if not play then
        local targets = table.concat({ target("h1"), target("h2"), target("h3") }, ",")
        local playbook = q(testenv.source_dir .. "/ansible/fleet-diagnose.yml")
        play = controller("ansible-playbook -i fleet-inventory " .. playbook .. " -e targets=" .. targets
          .. " -e " .. q('{"options": {"timeout": 1}}') .. " -e report=" .. q(dir .. "/fleet"))
        report = dkjson.decode(testenv.read_file(dir .. "/fleet.json") or "null")
        text = testenv.read_file(dir .. "/fleet.txt") or ""
      end
      assert.equal(0, play.code, play.stdout .. play.stderr)
      assert.is_table(report, play.stdout)
    end

    it("gives every host's verdict for every target, as a matrix", function()
      gate.check()
      run_playbook()
      local want = {
        h1 = { "reachable", "remote-refused", "remote-timeout" },
        h2 = { "reachable", "no-listener", "remote-timeout" },
        h3 = { "reachable", "remote-refused", "firewall-drop" },
      }
      assert.same({ "h1", "h2", "h3", "h4" }, report.hosts)
      assert.same({ target("h1"), target("h2"), target("h3") }, report.targets)
      for i, name in ipairs(NAMES) do
        for j, t in ipairs(report.targets) do
          assert.equal(want[name][j], report.results[name][t].verdict, name .. " -> " .. t)
          assert.equal(want[name][j], report.matrix[i][j], name .. " -> " .. t)
        end
      end
      assert.matches(SERVED_BY_SOCAT, report.results.h1[target("h1")].process)
      assert.matches("matrix %(host x target%):\n  HOST +" .. target("h1"):gsub("%.", "%%.") .. " ", text)
      assert.matches("\n  h2 +reachable +no%-listener +remote%-timeout\n", text)
      -- a host ssh cannot reach is in the report, for every target
      assert.same({ "unreachable", "unreachable", "unreachable" }, report.matrix[4])
      assert.matches("\n  h4 +unreachable +unreachable +unreachable\n", text)
    end)

    it("groups the hosts by verdict", function()
      gate.check()
      run_playbook()
      local function hosts_of(verdict)
        local names = {}
        for _, e in ipairs(report.by_verdict[verdict] or {}) do
          names[#names + 1] = e.host .. " " .. e.target
        end
        return names
      end
      assert.same({ "h1 " .. target("h3"), "h2 " .. target("h3") }, hosts_of("remote-timeout"))
      assert.same({ "h1 " .. target("h2"), "h3 " .. target("h2") }, hosts_of("remote-refused"))
      assert.same({ "h2 " .. target("h2") }, hosts_of("no-listener"))
      assert.matches("\n  remote%-timeout %(2%): h1 %-> " .. target("h3"):gsub("%.", "%%.") .. ", h2 %-> ", text)
    end)

    it("joins the client's timeout with the server's view: the drop rule", function()
      gate.check()
      run_playbook()
      local joined = {}
      for _, j in ipairs(report.joined) do
        joined[j.client .. " " .. j.target] = j
      end
      local j = assert(joined["h1 " .. target("h3")], "no joined view for h1 -> h3")
      assert.equal("h3", j.server)
      assert.equal("remote-timeout", j.client_view.verdict)
      assert.equal("firewall-drop", j.server_view.verdict)
      assert.matches(SERVED_BY_SOCAT, j.server_view.process)
      local rule = "-A INPUT -p tcp -m tcp --dport " .. port.h3 .. " -j DROP"
      assert.is_truthy(table.concat(j.server_view.evidence, "\n"):find(rule, 1, true), rule)
      -- a refusal is joined with "nothing listens" on the server; a client
      -- of itself (h3 -> h3) is not a remote verdict
      assert.equal("no-listener", joined["h1 " .. target("h2")].server_view.verdict)
      assert.is_nil(joined["h3 " .. target("h3")])
      assert.equal(4, #report.joined)
      assert.is_truthy(text:find("    on h3 (the server): firewall-drop: ", 1, true), text)
      assert.is_truthy(text:find(": " .. rule .. "\n", 1, true), text)
    end)
  end)
end)
