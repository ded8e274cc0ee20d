-- The Record model (ddb.records, native) against DynamoDB Local.
local ddb = require("ddb")
local tables = require("ddb.tables")
local helper = require("helper")

local client = helper.client()

local function new_records_table()
  local name = helper.unique("Records")
  tables.ensure(client, tables.records(name, "Processed"))
  return ddb.records { client = client, table = name, index = "Processed" }, name
end

describe("ddb.records", function()
  local records, name

  before_each(function() records, name = new_records_table() end)
  after_each(function() pcall(client.delete_table, client, { TableName = name }) end)

  it("puts and gets a record with every attribute", function()
    records:put_item { AccountId = "ACC12345", RunTime = "2026-02-17T12:00:00Z", Processed = 0, DocumentId = "DOC67890", Tags = { "a" } }
    local r = records:get_item("ACC12345", "2026-02-17T12:00:00Z")
    assert.are.same({ AccountId = "ACC12345", RunTime = "2026-02-17T12:00:00Z", Processed = 0, DocumentId = "DOC67890", Tags = { "a" } }, r)
    assert.is_nil(records:get_item("ACC12345", "2026-02-17T12:00:01Z"))
    assert.are.same({ table = name, index = "Processed", shards = 0 }, records:info())
  end)

  it("defaults Processed to 0", function()
    records:put_item { AccountId = "A", RunTime = "2026-01-01T00:00:00.123Z" }
    assert.are.equal(0, records:get_item("A", "2026-01-01T00:00:00.123Z").Processed)
  end)

  it("marks conditionally: true, then false; a missing record is not created", function()
    records:put_item { AccountId = "A", RunTime = "2026-01-01T00:00:00Z", Processed = 0 }
    assert.is_true(records:mark_as_processed("A", "2026-01-01T00:00:00Z"))
    assert.is_false(records:mark_as_processed("A", "2026-01-01T00:00:00Z"))
    assert.are.equal(1, records:get_item("A", "2026-01-01T00:00:00Z").Processed)
    assert.is_false(records:mark_as_processed("A", "2026-01-02T00:00:00Z"))
    assert.is_nil(records:get_item("A", "2026-01-02T00:00:00Z"))
  end)

  it("marks records whose keys need JSON escaping", function()
    for _, acct in ipairs { 'quote"d', "back\\slash", "ünïcode ✓", "tab\there" } do
      records:put_item { AccountId = acct, RunTime = "2026-01-01T00:00:00Z" }
      assert.is_true(records:mark_as_processed(acct, "2026-01-01T00:00:00Z"), acct)
      assert.is_false(records:mark_as_processed(acct, "2026-01-01T00:00:00Z"), acct)
      assert.are.equal(1, records:get_item(acct, "2026-01-01T00:00:00Z").Processed, acct)
    end
  end)

  it("queries unprocessed, processed and by account, with time bounds and limits", function()
    for i = 1, 6 do
      records:put_item { AccountId = i <= 3 and "A" or "B", RunTime = string.format("2026-03-0%dT00:00:00Z", i), Processed = i % 2 }
    end
    local un = records:query_unprocessed()
    assert.are.equal(3, #un)
    for _, r in ipairs(un) do assert.are.equal(0, r.Processed) end
    assert.are.equal(3, #records:query_processed())
    assert.are.equal(2, #records:query_unprocessed { limit = 2 })
    local a = records:query_by_account("A")
    assert.are.same({ "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z" }, { a[1].RunTime, a[2].RunTime, a[3].RunTime })
    local bounded = records:query_by_account("A", { from = "2026-03-02T00:00:00Z", to = "2026-03-03T00:00:00Z" })
    assert.are.equal(2, #bounded)
    assert.are.equal(2, #records:query_by_account("A", { from = "2026-03-02T00:00:00Z" }))
    assert.are.equal(1, #records:query_by_account("A", { to = "2026-03-01T12:00:00Z" }))
    local n = 0
    for r in records:by_account("B") do n = n + 1 assert.are.equal("B", r.AccountId) end
    assert.are.equal(3, n)
  end)

  it("deletes a record", function()
    records:put_item { AccountId = "A", RunTime = "2026-01-01T00:00:00Z" }
    records:delete_item("A", "2026-01-01T00:00:00Z")
    assert.is_nil(records:get_item("A", "2026-01-01T00:00:00Z"))
  end)

  it("pages through more than 1 MB of unprocessed records", function()
    local payload = string.rep("z", 1000)
    local items = {}
    for i = 1, 1500 do
      items[i] = { AccountId = string.format("acct-%03d", i % 37), RunTime = os.date("!%Y-%m-%dT%H:%M:%SZ", 1767225600 + i), Processed = 0, Payload = payload }
    end
    client:put_all(name, items)
    local seen, last = {}, ""
    for r in records:unprocessed() do
      assert.is_true(r.RunTime > last, "the GSI returns RunTime in order")
      last = r.RunTime
      seen[r.AccountId .. r.RunTime] = true
    end
    local count = 0
    for _ in pairs(seen) do count = count + 1 end
    assert.are.equal(1500, count)
    assert.are.equal(1500, #records:query_unprocessed())
    assert.are.equal(1200, #records:query_unprocessed { limit = 1200 })
  end)

  local invalid = {
    { "a missing AccountId", { RunTime = "2026-01-01T00:00:00Z" }, "AccountId is missing: it must be a non-empty string" },
    { "a missing RunTime", { AccountId = "A" }, "RunTime is missing: it must be an ISO-8601 UTC time string" },
    { "a RunTime that is not ISO-8601", { AccountId = "A", RunTime = "yesterday" },
      "RunTime 'yesterday' is not an ISO-8601 UTC time like 2026-02-17T12:00:00Z" },
    { "an impossible date", { AccountId = "A", RunTime = "2026-02-30T00:00:00Z" },
      "RunTime '2026-02-30T00:00:00Z' is not an ISO-8601 UTC time like 2026-02-17T12:00:00Z" },
    { "Processed = 2", { AccountId = "A", RunTime = "2026-01-01T00:00:00Z", Processed = 2 }, "Processed must be the number 0 (unprocessed) or 1 (processed)" },
    { "Processed as a string", { AccountId = "A", RunTime = "2026-01-01T00:00:00Z", Processed = "0" }, "Processed must be the number 0 (unprocessed) or 1 (processed)" },
    { "a numeric AccountId", { AccountId = 5, RunTime = "2026-01-01T00:00:00Z" }, "AccountId must be a string" },
    { "an item over 400 KB", { AccountId = "A", RunTime = "2026-01-01T00:00:00Z", Big = string.rep("x", 410 * 1024) },
      "the item is about 419890 bytes, over DynamoDB's limit of 400 KB" },
    { "an AccountId over 2048 bytes", { AccountId = string.rep("a", 2049), RunTime = "2026-01-01T00:00:00Z" }, "AccountId is longer than 2048 bytes" },
  }
  for _, case in ipairs(invalid) do
    it("refuses " .. case[1] .. " before any request", function()
      local ok, err = pcall(records.put_item, records, case[2])
      assert.is_false(ok)
      assert.are.equal("record: " .. case[3], err)
    end)
  end

  it("validates keys of get, mark and delete", function()
    for _, method in ipairs { "get_item", "mark_as_processed", "delete_item" } do
      local ok, err = pcall(records[method], records, "A", "not a time")
      assert.is_false(ok)
      assert.are.equal("RunTime 'not a time' is not an ISO-8601 UTC time like 2026-02-17T12:00:00Z", err, method)
    end
    local ok, err = pcall(records.query_by_account, records, "A", { from = "June" })
    assert.is_false(ok)
    assert.are.equal("from 'June' is not an ISO-8601 UTC time like 2026-02-17T12:00:00Z", err)
  end)

  -- issue 9.1: a C string would cut "ACC\0X" to "ACC" and address another record
  it("keys with a NUL byte work end to end: put, get, mark, query and the processor", function()
    local T = "2026-01-01T00:00:00Z"
    local keys = { "ACC", "ACC\0X", "B", "B\0" }
    for _, k in ipairs(keys) do records:put_item { AccountId = k, RunTime = T, Tag = k } end
    for _, k in ipairs(keys) do assert.are.equal(k, records:get_item(k, T).Tag) end
    assert.are.equal(1, #records:query_by_account("ACC\0X"))
    local errors, stats = ddb.processor { client = client, table = name, index = "Processed", max_workers = 2,
                                          progress = false, summary = false }:process_all(function() end)
    assert.are.same({}, errors)
    assert.are.equal(4, stats.processed)
    assert.are.equal(0, stats.skipped)
    for _, k in ipairs(keys) do assert.are.equal(1, records:get_item(k, T).Processed, k) end
    records:put_item { AccountId = "C\0", RunTime = T }
    records:put_item { AccountId = "C", RunTime = T }
    assert.is_true(records:mark_as_processed("C\0", T))
    assert.are.equal(0, records:get_item("C", T).Processed)
    records:delete_item("C\0", T)
    assert.is_nil(records:get_item("C\0", T))
    assert.is_table(records:get_item("C", T))
  end)

  it("reports a failed record whose key holds a NUL byte with its whole key, in errors and errors_file", function()
    local T = "2026-01-01T00:00:00Z"
    for _, k in ipairs { "ACC", "ACC\0X" } do records:put_item { AccountId = k, RunTime = T } end
    local file = os.tmpname()
    local errors = ddb.processor { client = client, table = name, index = "Processed", max_workers = 2,
                                   progress = false, summary = false, errors_file = file }:process_all(function(r)
      if r.AccountId == "ACC\0X" then error("no", 0) end
    end)
    assert.are.equal(1, #errors)
    assert.are.equal("ACC\0X", errors[1].AccountId)
    assert.are.equal(T, errors[1].RunTime)
    local f = assert(io.open(file))
    local line = f:read("l")
    f:close()
    os.remove(file)
    assert.truthy(line:find('"AccountId": ?"ACC\\u0000X"'), line)
  end)

  it("refuses keys with invalid UTF-8, and over-long bounds", function()
    local ok, err = pcall(records.query_by_account, records, "\255")
    assert.is_false(ok)
    assert.are.equal("AccountId is not valid UTF-8", err)
    ok, err = pcall(records.query_by_account, records, "A", { from = "2026-01-01T00:00:00." .. string.rep("0", 5000) .. "Z" })
    assert.is_false(ok)
    assert.truthy(err:find("is not an ISO-8601 UTC time", 1, true), err)
  end)

  it("handles the reserved word Processed through placeholders", function()
    -- a raw expression naming Processed is refused by DynamoDB...
    records:put_item { AccountId = "A", RunTime = "2026-01-01T00:00:00Z" }
    local ok, err = pcall(client.update_item, client, { TableName = name, Key = { AccountId = "A", RunTime = "2026-01-01T00:00:00Z" },
      UpdateExpression = "SET Processed = :one", ExpressionAttributeValues = { [":one"] = 1 } })
    assert.is_false(ok)
    assert.are.equal("ValidationException", err.code)
    assert.truthy(err.message:find("reserved keyword", 1, true))
    -- ...while the model's own expressions work
    assert.is_true(records:mark_as_processed("A", "2026-01-01T00:00:00Z"))
    assert.are.equal(1, #records:query_processed())
  end)

  it("reports a missing table with its error code", function()
    local r = ddb.records { client = client, table = "NoSuchRecords" }
    local ok, err = pcall(r.get_item, r, "A", "2026-01-01T00:00:00Z")
    assert.is_false(ok)
    assert.are.equal("ResourceNotFoundException", err.code)
  end)
end)
