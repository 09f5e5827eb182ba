-- System facts on the module table: cr.sys, cr.firewall, cr.service.
-- Called once by luaopen_connrecipe with the module table (cr.sys already
-- holds the C binding for interfaces).
return function(cr)
  local util = require "connrecipe.sysutil"
  util.bind(cr)
  local sys = cr.sys
  require("connrecipe.sys")._bind_interfaces(sys.interfaces)
  require("connrecipe.hosts")._bind_scan(sys._hosts_scan)
  for _, name in ipairs({ "connrecipe.sys", "connrecipe.hosts", "connrecipe.resolver", "connrecipe.proxy" }) do
    for k, v in pairs(require(name)) do
      if not k:match("^_") then
        sys[k] = v
      end
    end
  end
  cr.firewall = require "connrecipe.firewall"
  cr.firewall._interfaces = sys.interfaces -- local addresses go through lo
  cr.service = require "connrecipe.service"
end
