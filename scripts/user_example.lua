-- The User model end to end: create a user and some of their items, read,
-- update part of the profile, query by sk prefix, delete.
local ddb = require("ddb")
local User = require("ddb.user")
local example = require("ddb.example")

example.run("user_example", function()
  local users = User.new()
  example.require_tables(users.client, { users.table })
  local pk = "user#" .. os.time()

  users:create { pk = pk, sk = "profile", name = "Ada Lovelace", email = "ada@example.com", age = 36,
                 tags = ddb.set { "math", "poetry" } }
  users:create { pk = pk, sk = "order#2026-01-05", total = 12.5, items = { "notebook", "pen" } }
  users:create { pk = pk, sk = "order#2026-02-11", total = 99.99, items = { "engine" } }
  print("Created " .. pk .. " with a profile and two orders")

  local ok, err = pcall(users.create, users, { pk = pk, sk = "profile", name = "Someone else" })
  print("Creating the profile again fails:", not ok and err.code)

  local profile = users:get(pk, "profile")
  print(string.format("Profile: %s <%s>, age %d", profile.name, profile.email, profile.age))

  local updated = users:update(pk, "profile", { age = 37, status = "active" })
  print(string.format("Updated: age %d, status %s, name kept: %s", updated.age, updated.status, updated.name))

  local missing_ok, missing_err = pcall(users.update, users, pk, "nope", { age = 1 })
  print("Updating a missing user fails:", not missing_ok and missing_err.code)

  local orders = users:query(pk, { sk_prefix = "order#" })
  print(string.format("Orders: %d", #orders))
  for _, o in ipairs(orders) do print(string.format("  %s total %.2f (%d items)", o.sk, o.total, #o.items)) end

  for _, item in ipairs(users:query(pk)) do users:delete(item.pk, item.sk) end
  print("Deleted; items left under " .. pk .. ": " .. #users:query(pk))
end)
