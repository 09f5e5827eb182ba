-- Loaded by busted before every spec: makes the built module and the test
-- helpers requirable.
local module_dir = assert(os.getenv("CONNRECIPE_MODULE_DIR"), "run the tests through ctest")
local source_dir = assert(os.getenv("CONNRECIPE_SOURCE_DIR"))
package.cpath = module_dir .. "/?.so;" .. package.cpath
package.path = source_dir .. "/tests/lib/?.lua;" .. package.path
