std = "lua54"
max_line_length = 120
-- recipes and chunks run with the module as the global `cr`
read_globals = { "cr" }
files["tests/"] = { std = "+busted" }
files["lua/connrecipe/coroutines.lua"] = { globals = { "coroutine" } }
-- deliberately broken: the CLI tests check how its syntax error is reported
exclude_files = { "tests/fixtures/recipes/syntax_error.lua" }
-- the library reaches the module one way only: local cr = require "connrecipe"
files["lua/"] = { not_globals = { "cr" } }
