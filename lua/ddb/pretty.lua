-- Readable text for Lua values, DynamoDB items and responses above all:
-- one nesting level per line, keys sorted, ddb.number / sets / binary / null
-- shown as such, long lists cut with a count. Used by the interactive prompt;
-- usable from scripts: print(require("ddb.pretty").format(out)).
local ddb = require("ddb")

local pretty = { max_items = 20, max_depth = 12, indent = "  " }

local SET = getmetatable(ddb.set {})
local LIST = getmetatable(ddb.list())
local MAP = getmetatable(ddb.map())
local BINARY = getmetatable(ddb.binary(""))
local NUMBER = getmetatable(ddb.number("0"))

local function quote(s)
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function key_text(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return k end
  if type(k) == "string" then return "[" .. quote(k) .. "]" end
  return "[" .. tostring(k) .. "]"
end

-- Numbers before strings before anything else; within a type, natural order.
local TYPE_RANK = { number = 1, string = 2 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (TYPE_RANK[ta] or 3) < (TYPE_RANK[tb] or 3) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local format

local function scalar(v)
  if type(v) == "string" then return quote(v) end
  if ddb.is_null(v) then return "ddb.null" end
  return tostring(v)
end

local function set_text(v)
  local elements = {}
  for i = 1, #v do elements[i] = v[i] end
  table.sort(elements, key_less)
  for i, e in ipairs(elements) do elements[i] = format(e, 99, {}) end
  return "ddb.set{" .. table.concat(elements, ", ") .. "}"
end

-- The sequence part first (1..n, cut after max_items), then the other keys sorted.
local function entries(t)
  local n = #t
  local list, others = {}, {}
  for i = 1, math.min(n, pretty.max_items) do list[#list + 1] = { nil, t[i] } end
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then others[#others + 1] = k end
  end
  table.sort(others, key_less)
  for _, k in ipairs(others) do list[#list + 1] = { key_text(k), t[k] } end
  return list, n > pretty.max_items and n - pretty.max_items or 0, n
end

local function table_text(t, depth, seen)
  local mt = getmetatable(t)
  if mt == SET then return set_text(t) end
  if mt == NUMBER then return "ddb.number(" .. quote(t.value) .. ")" end
  if mt == BINARY then return tostring(t) end
  if mt and mt ~= LIST and mt ~= MAP and mt.__tostring then return tostring(t) end
  if next(t) == nil then return mt == LIST and "ddb.list{}" or mt == MAP and "ddb.map{}" or "{}" end
  if seen[t] then return "<cycle>" end
  if depth >= pretty.max_depth then return "{...}" end
  seen[t] = true
  local pad = string.rep(pretty.indent, depth + 1)
  local lines = { "{" }
  local list, cut, n = entries(t)
  for i, e in ipairs(list) do
    local value = format(e[2], depth + 1, seen)
    lines[#lines + 1] = pad .. (e[1] and (e[1] .. " = ") or "") .. value .. ","
    if cut > 0 and i == pretty.max_items then
      lines[#lines + 1] = string.format("%s... %d more (%d in all)", pad, cut, n)
    end
  end
  seen[t] = nil
  lines[#lines + 1] = string.rep(pretty.indent, depth) .. "}"
  return table.concat(lines, "\n")
end

function format(v, depth, seen)
  if type(v) == "table" then return table_text(v, depth, seen) end
  return scalar(v)
end

-- The text of v; nested tables are indented by `indent` per level.
function pretty.format(v)
  return format(v, 0, {})
end

return pretty
