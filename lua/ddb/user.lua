-- The User model on the Users table (pk, sk): create, get, partial update,
-- delete and query by pk with an sk prefix. Every attribute name goes through
-- a placeholder, so reserved words such as `name` or `status` are fine.
local ddb = require("ddb")

local User = {}
User.__index = User

-- DynamoDB's own limits, as the native core knows them
local MAX_PK, MAX_SK, MAX_ITEM = ddb.limits.partition_key, ddb.limits.sort_key, ddb.limits.item

local function check_key(pk, sk)
  if type(pk) ~= "string" or pk == "" then error("pk must be a non-empty string", 3) end
  if #pk > MAX_PK then error(string.format("pk is longer than %d bytes", MAX_PK), 3) end
  if type(sk) ~= "string" or sk == "" then error("sk must be a non-empty string", 3) end
  if #sk > MAX_SK then error(string.format("sk is longer than %d bytes", MAX_SK), 3) end
end

-- Rough DynamoDB item size: names plus values, enough to refuse before sending.
local function size_of(v)
  local t = type(v)
  if t == "string" then return #v end
  if t == "number" or t == "boolean" then return 8 end
  if t ~= "table" then return 1 end
  local n = 3
  for k, x in pairs(v) do n = n + (type(k) == "string" and #k or 0) + size_of(x) end
  return n
end

local function check_item(item)
  if type(item) ~= "table" then error("a user must be a table", 3) end
  check_key(item.pk, item.sk)
  local size = size_of(item)
  if size > MAX_ITEM then error(string.format("the user item is about %d bytes, over DynamoDB's limit of 400 KB", size), 3) end
end

-- User.new{ client = c, table = "Users" }; both optional.
function User.new(opts)
  opts = opts or {}
  local name = opts.table or os.getenv("USERS_TABLE")
  return setmetatable({
    client = opts.client or ddb.client(),
    table = (name and name ~= "") and name or "Users",
  }, User)
end

-- Creates a user; fails with ConditionalCheckFailedException if it exists.
function User:create(item)
  check_item(item)
  self.client:put_item {
    TableName = self.table, Item = item,
    ConditionExpression = "attribute_not_exists(#pk)",
    ExpressionAttributeNames = { ["#pk"] = "pk" },
  }
  return item
end

function User:get(pk, sk)
  check_key(pk, sk)
  return self.client:get_item { TableName = self.table, Key = { pk = pk, sk = sk }, ConsistentRead = true }.Item
end

-- Sets the given attributes (and removes those listed in opts.remove) on an
-- existing user; returns the whole updated item.
function User:update(pk, sk, changes, opts)
  check_key(pk, sk)
  if type(changes) ~= "table" then error("changes must be a table of attributes", 2) end
  local names, values, sets, removes = { ["#pk"] = "pk" }, {}, {}, {}
  local i = 0
  for attr, value in pairs(changes) do
    if attr == "pk" or attr == "sk" then error("update cannot change the key attribute " .. attr, 2) end
    if type(attr) ~= "string" or attr == "" then error("attribute names must be non-empty strings", 2) end
    i = i + 1
    names["#a" .. i], values[":v" .. i] = attr, value
    sets[#sets + 1] = string.format("#a%d = :v%d", i, i)
  end
  for _, attr in ipairs(opts and opts.remove or {}) do
    i = i + 1
    names["#a" .. i] = attr
    removes[#removes + 1] = "#a" .. i
  end
  if #sets + #removes == 0 then error("update needs at least one attribute to set or remove", 2) end
  local expr = (#sets > 0 and ("SET " .. table.concat(sets, ", ")) or "")
    .. (#removes > 0 and (" REMOVE " .. table.concat(removes, ", ")) or "")
  local out = self.client:update_item {
    TableName = self.table, Key = { pk = pk, sk = sk },
    UpdateExpression = expr,
    ConditionExpression = "attribute_exists(#pk)",
    ExpressionAttributeNames = names,
    ExpressionAttributeValues = next(values) and values or nil,
    ReturnValues = "ALL_NEW",
  }
  return out.Attributes
end

-- Deletes a user; returns the deleted item, or nil if there was none.
function User:delete(pk, sk)
  check_key(pk, sk)
  return self.client:delete_item { TableName = self.table, Key = { pk = pk, sk = sk }, ReturnValues = "ALL_OLD" }.Attributes
end

local function query_request(self, pk, opts)
  if type(pk) ~= "string" or pk == "" then error("pk must be a non-empty string", 3) end
  opts = opts or {}
  local req = {
    TableName = self.table,
    KeyConditionExpression = "#pk = :pk",
    ExpressionAttributeNames = { ["#pk"] = "pk" },
    ExpressionAttributeValues = { [":pk"] = pk },
    ScanIndexForward = not opts.descending,
  }
  if opts.sk_prefix then
    req.KeyConditionExpression = "#pk = :pk AND begins_with(#sk, :prefix)"
    req.ExpressionAttributeNames["#sk"] = "sk"
    req.ExpressionAttributeValues[":prefix"] = opts.sk_prefix
  end
  return req, opts.limit
end

-- Every item under pk (optionally only those whose sk starts with
-- opts.sk_prefix, at most opts.limit), as a list.
function User:query(pk, opts)
  local req, limit = query_request(self, pk, opts)
  local list = {}
  for item in self.client:query_items(req) do
    list[#list + 1] = item
    if limit and #list >= limit then break end
  end
  return list
end

-- The same as an iterator, one page in memory at a time.
function User:items(pk, opts)
  local req = query_request(self, pk, opts)
  return self.client:query_items(req)
end

return User
