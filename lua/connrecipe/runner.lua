-- How the executable runs a recipe file: the chunk runs as the task; if it
-- returns a declaration (cr.recipe{...}) the framework executes it with the
-- arguments, otherwise the chunk was a plain script and its result stands.
local cr = require "connrecipe"

return function(chunk, file_name, ...)
  local recipe = cr._recipe
  recipe.begin(file_name) -- so that a run cut short still prints its --json document
  local result = table.pack(chunk(...))
  if recipe.is_recipe(result[1]) then
    return recipe.execute(result[1], file_name, { ... })
  end
  recipe.finish()
  return table.unpack(result, 1, result.n)
end
