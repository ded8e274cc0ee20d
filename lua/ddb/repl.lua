-- The Lua side of the interactive prompt (src/repl.c): the globals it starts
-- with and how results are shown.
local ddb = require("ddb")
local pretty = require("ddb.pretty")

local repl = {}

-- Globals `ddb` (the module) and `client`, made from the environment / .env
-- the first time it is used; if that fails, the error shows and the next use
-- tries again.
function repl.install(G)
  G.ddb = ddb
  local mt = getmetatable(G) or {}
  local previous = mt.__index
  mt.__index = function(t, key)
    if key == "client" and rawget(t, "client") == nil then
      local c = ddb.client()
      rawset(t, "client", c)
      return c
    end
    if type(previous) == "function" then return previous(t, key) end
    if previous ~= nil then return previous[key] end
    return nil
  end
  setmetatable(G, mt)
end

-- Prints the results of an evaluation, tab-separated like print().
function repl.show(...)
  local n = select("#", ...)
  if n == 0 then return end
  local parts = {}
  for i = 1, n do parts[i] = pretty.format((select(i, ...))) end
  io.stdout:write(table.concat(parts, "\t"), "\n")
  io.stdout:flush()
end

return repl
