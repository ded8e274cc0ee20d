-- luacheck configuration for `make check` (Debian lua-check) over lua/,
-- scripts/ and spec/. Lines may be long: DynamoDB requests read better on one.
std = "lua54"
max_line_length = false
-- Processor callbacks are documented as function(record, ctx); leaving one
-- of the two unused is the normal case, not a mistake.
ignore = { "212/record", "212/ctx" }

-- busted's globals (describe, it, assert.are.*, spy, stub, ...).
files["spec/"] = { std = "+busted" }
-- A global of one worker's own Lua state, on purpose (the spec checks it stays there).
files["spec/processor_spec.lua"] = { std = "+busted", globals = { "SEEN" } }
-- The LuaLS meta file only declares the API for editors: empty bodies.
files["lua/ddb/meta.lua"] = { ignore = { "212", "241" } }
