-- Loading on first use. Most runs use a small part of the library: a refused
-- port never needs the protocol speakers, a host without container runtimes
-- never needs their readers, `connrecipe -e` never needs the recipe
-- framework. Every module loaded costs its undumping (interning every
-- string constant and name) and the collector's work over it: most of a
-- quiet diagnose's own instructions. So these load when first touched.
local lazy = {}

--- lazy.require(name) -> a stand-in for module `name`, required the first
--- time one of its fields is read or set (mod.f(...) as usual); a module
--- that fails to load raises there, with require's message.
function lazy.require(name)
  local mod
  local function load()
    mod = mod or require(name)
    return mod
  end
  return setmetatable({}, {
    __index = function(_, k)
      return load()[k]
    end,
    __newindex = function(_, k, v)
      load()[k] = v
    end,
    __pairs = function()
      return next, load(), nil
    end,
  })
end

-- The loaders still pending, by table (lazy.fields adds to them).
local pending = setmetatable({}, { __mode = "k" })

--- lazy.fields(t, loaders): t[NAME], for each NAME of loaders, becomes
--- loaders[NAME]() the first time it is read; then it is a plain field.
--- pairs(t) loads every one first, so that what lists t (the REPL's
--- completion, help, the docs' tests) sees every name. Called again on the
--- same t, it adds the new loaders.
function lazy.fields(t, loaders)
  if pending[t] then
    for k, loader in pairs(loaders) do
      pending[t][k] = loader
    end
    return t
  end
  local left = {}
  for k, loader in pairs(loaders) do
    left[k] = loader
  end
  pending[t] = left
  local function load(k)
    local loader = left[k]
    left[k] = nil
    local v = loader()
    if rawget(t, k) == nil then -- a loader may have set it itself
      rawset(t, k, v)
    end
    return rawget(t, k)
  end
  return setmetatable(t, {
    __index = function(_, k)
      if left[k] then
        return load(k)
      end
    end,
    __pairs = function()
      for k in pairs(left) do
        load(k)
      end
      return next, t, nil
    end,
  })
end

--- lazy.parts(t, names): t gains the fields of modules `names` (but those
--- named "_..."), each module required only when a name t lacks is read:
--- the parts in order until one has it (a name none has loads them all).
--- pairs(t) loads them all first.
function lazy.parts(t, names)
  local left = table.move(names, 1, #names, 1, {})
  local function load_until(k)
    while left[1] and (k == nil or rawget(t, k) == nil) do
      for name, v in pairs(require(table.remove(left, 1))) do
        if not name:match("^_") then
          rawset(t, name, v)
        end
      end
    end
  end
  return setmetatable(t, {
    __index = function(_, k)
      load_until(k)
      return rawget(t, k)
    end,
    __pairs = function()
      load_until(nil)
      return next, t, nil
    end,
  })
end

return lazy
