-- Called once by the module loader: the recipe framework's cr.recipe and
-- cr._recipe (connrecipe.recipe, for the runner) and cr.recipes, the
-- recipes on the recipe path as functions (connrecipe.recipecall). Both
-- load when first used (connrecipe.lazy): `connrecipe -e` and the REPL
-- seldom need them.
local cr = require "connrecipe"
local lazy = require "connrecipe.lazy"

return function()
  local function framework(name)
    return function()
      if rawget(cr, "_recipe") == nil then
        require("connrecipe.recipe")() -- sets cr.recipe and cr._recipe
      end
      return rawget(cr, name)
    end
  end
  lazy.fields(cr, {
    recipe = framework("recipe"),
    _recipe = framework("_recipe"),
    recipes = function()
      return require("connrecipe.recipecall").table()
    end,
  })
end
