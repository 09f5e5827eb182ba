-- How the executable runs a recipe file. The chunk is the task's own function,
-- so that its frames are those of lua.c's main chunk; begin returns what runs
-- after it in the same task: if the chunk returned a declaration
-- (cr.recipe{...}) the framework executes it with the arguments, otherwise the
-- chunk was a plain script and its results stand.
local cr = require "connrecipe"

return function(file_name, argv)
  local recipe = cr._recipe
  recipe.begin(file_name) -- so that a run cut short still prints its --json document
  return function(...)
    if recipe.is_recipe((...)) then
      return recipe.execute((...), file_name, argv)
    end
    recipe.finish()
    return ...
  end
end
