-- The User model (lua/ddb/user.lua) against DynamoDB Local.
local User = require("ddb.user")
local tables = require("ddb.tables")
local helper = require("helper")

local client = helper.client()

describe("ddb.user", function()
  local users, name

  before_each(function()
    name = helper.unique("Users")
    tables.ensure(client, tables.users(name))
    users = User.new { client = client, table = name }
  end)
  after_each(function() pcall(client.delete_table, client, { TableName = name }) end)

  it("creates, gets, updates partially and deletes", function()
    users:create { pk = "user#1", sk = "profile", name = "Ada", age = 36, status = "new" }
    assert.are.same({ pk = "user#1", sk = "profile", name = "Ada", age = 36, status = "new" }, users:get("user#1", "profile"))
    local updated = users:update("user#1", "profile", { age = 37, comment = "hi" }, { remove = { "status" } })
    assert.are.same({ pk = "user#1", sk = "profile", name = "Ada", age = 37, comment = "hi" }, updated)
    assert.are.same(updated, users:get("user#1", "profile"))
    assert.are.same(updated, users:delete("user#1", "profile"))
    assert.is_nil(users:get("user#1", "profile"))
    assert.is_nil(users:delete("user#1", "profile"))
  end)

  it("refuses to create a user twice and to update a missing one", function()
    users:create { pk = "u", sk = "p" }
    local ok, err = pcall(users.create, users, { pk = "u", sk = "p" })
    assert.is_false(ok)
    assert.are.equal("ConditionalCheckFailedException", err.code)
    ok, err = pcall(users.update, users, "nobody", "p", { age = 1 })
    assert.is_false(ok)
    assert.are.equal("ConditionalCheckFailedException", err.code)
    assert.is_nil(users:get("nobody", "p"))
  end)

  it("queries a user's items by pk and sk prefix, in order", function()
    users:create { pk = "u", sk = "profile" }
    for i = 1, 5 do users:create { pk = "u", sk = string.format("order#%02d", i), total = i } end
    users:create { pk = "other", sk = "order#01" }
    local orders = users:query("u", { sk_prefix = "order#" })
    assert.are.equal(5, #orders)
    assert.are.equal("order#01", orders[1].sk)
    assert.are.equal(6, #users:query("u"))
    assert.are.equal(2, #users:query("u", { sk_prefix = "order#", limit = 2 }))
    assert.are.equal("order#05", users:query("u", { sk_prefix = "order#", descending = true })[1].sk)
    local n = 0
    for _ in users:items("u", { sk_prefix = "order#" }) do n = n + 1 end
    assert.are.equal(5, n)
  end)

  it("handles reserved words as attribute names", function()
    users:create { pk = "u", sk = "p", name = "x", status = "y", size = 1, ["date"] = "d" }
    local u = users:update("u", "p", { name = "z", status = "s", size = 2, ["date"] = "e" })
    assert.are.same({ pk = "u", sk = "p", name = "z", status = "s", size = 2, ["date"] = "e" }, u)
  end)

  local invalid = {
    { "a missing pk", function(u) return u:create { sk = "p" } end, "pk must be a non-empty string" },
    { "an empty sk", function(u) return u:create { pk = "u", sk = "" } end, "sk must be a non-empty string" },
    { "a numeric pk", function(u) return u:get(1, "p") end, "pk must be a non-empty string" },
    { "a pk over 2048 bytes", function(u) return u:get(string.rep("x", 2049), "p") end, "pk is longer than 2048 bytes" },
    { "an update of the key", function(u) return u:update("u", "p", { sk = "q" }) end, "update cannot change the key attribute sk" },
    { "an empty update", function(u) return u:update("u", "p", {}) end, "update needs at least one attribute" },
    { "an item over 400 KB", function(u) return u:create { pk = "u", sk = "p", blob = string.rep("x", 410 * 1024) } end, "over DynamoDB's limit of 400 KB" },
  }
  for _, case in ipairs(invalid) do
    it("refuses " .. case[1], function()
      local ok, err = pcall(case[2], users)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(case[3], 1, true), tostring(err))
    end)
  end
end)
