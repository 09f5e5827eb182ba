-- How the executable runs a recipe file: the chunk runs as the task; if it
-- returns a declaration (cr.recipe{...}) the framework executes it with the
-- arguments, otherwise the chunk was a plain script and its result stands.
return function(cr)
  return function(chunk, file_name, ...)
    local result = table.pack(chunk(...))
    if cr._recipe.is_recipe(result[1]) then
      return cr._recipe.execute(result[1], file_name, { ... })
    end
    return table.unpack(result, 1, result.n)
  end
end
