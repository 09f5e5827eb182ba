-- System facts on the module table: cr.sys, cr.firewall, cr.service.
-- Called once by the module loader (cr.sys already holds the C binding for
-- interfaces, cr.sys._interfaces).
local cr = require "connrecipe"

return function()
  local sys = cr.sys
  for _, name in ipairs({ "connrecipe.sys", "connrecipe.hosts", "connrecipe.resolver", "connrecipe.proxy" }) do
    for k, v in pairs(require(name)) do
      if not k:match("^_") then
        sys[k] = v
      end
    end
  end
  cr.firewall = require "connrecipe.firewall"
  cr.service = require "connrecipe.service"
end
