-- `make check`: every function and field of the ddb module and every method
-- of a client, a Record model and a processor is declared in lua/ddb/meta.lua,
-- so editors complete the whole API. Prints what is missing; exit 1 if any.
local ddb = require("ddb")
local core = require("ddb.core")

local path = arg[1] or "lua/ddb/meta.lua"
local f = assert(io.open(path))
local meta = f:read("a")
f:close()

local missing = {}
local function expect(owner, name, sep)
  local decl = "function " .. owner .. sep .. name .. "("
  if not meta:find(decl, 1, true) then missing[#missing + 1] = decl .. ")" end
end

local function methods(class)
  local list = {}
  for name, v in pairs(class.__index) do
    if type(v) == "function" and not name:match("^_") then list[#list + 1] = name end
  end
  return list
end

for name, v in pairs(ddb) do
  if type(v) == "function" and name ~= "worker_context" then
    expect("ddb", name, ".")
  elseif type(v) ~= "function" and not meta:find("---@field " .. name .. " ", 1, true) then
    missing[#missing + 1] = "---@field " .. name
  end
end
for _, name in ipairs(methods(core.Client)) do expect("Client", name, ":") end
for _, name in ipairs(methods(core.Records)) do expect("Records", name, ":") end
for _, name in ipairs(methods(core.Processor)) do expect("Processor", name, ":") end

table.sort(missing)
for _, decl in ipairs(missing) do io.stderr:write(path, ": no annotation for ", decl, "\n") end
if #missing > 0 then os.exit(1) end
print(string.format("%s: the whole ddb API is annotated", path))
