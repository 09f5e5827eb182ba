-- Called once by the module loader: cr.recipes, the recipes on the recipe
-- path as functions (connrecipe.recipecall).
local cr = require "connrecipe"

return function()
  cr.recipes = require("connrecipe.recipecall").table()
end
