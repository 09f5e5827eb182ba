-- System facts on the module table: cr.sys, cr.firewall, cr.service.
-- Called once by the module loader (cr.sys already holds the C binding for
-- interfaces, cr.sys._interfaces). Each part loads when first used
-- (connrecipe.lazy): most runs read a few of cr.sys's functions, few read
-- a rule set or a unit.
local cr = require "connrecipe"
local lazy = require "connrecipe.lazy"

return function()
  -- their names are distinct: the order only decides what loads first
  lazy.parts(cr.sys, { "connrecipe.sys", "connrecipe.proxy", "connrecipe.hosts", "connrecipe.resolver" })
  lazy.fields(cr, {
    firewall = function()
      return require "connrecipe.firewall"
    end,
    service = function()
      return require "connrecipe.service"
    end,
  })
end
