-- The Record model end to end: insert records, query the unprocessed ones,
-- mark one processed, query processed records and one account's records.
local ddb = require("ddb")
local example = require("ddb.example")

example.run("record_example", function()
  local records = ddb.records()
  example.require_tables(records:client(), { records:info().table })
  local account = string.format("ACC%05d", os.time() % 100000)

  print("Inserting 3 records for " .. account)
  for i, day in ipairs { "2026-02-17T12:00:00Z", "2026-02-18T12:00:00Z", "2026-02-19T12:00:00Z" } do
    records:put_item { AccountId = account, RunTime = day, Processed = 0, DocumentId = string.format("DOC%05d", i) }
  end

  local unprocessed = records:query_unprocessed { limit = 100 }
  print(string.format("Unprocessed records (first page of up to 100): %d", #unprocessed))

  local first = records:get_item(account, "2026-02-17T12:00:00Z")
  print(string.format("Got %s %s DocumentId=%s Processed=%d", first.AccountId, first.RunTime, first.DocumentId, first.Processed))

  print("mark_as_processed ->", records:mark_as_processed(account, "2026-02-17T12:00:00Z"))
  print("mark_as_processed again ->", records:mark_as_processed(account, "2026-02-17T12:00:00Z"), "(already processed)")

  local processed = 0
  for r in records:processed() do
    if r.AccountId == account then processed = processed + 1 end
  end
  print(string.format("Processed records of %s: %d", account, processed))

  local feb = records:query_by_account(account, { from = "2026-02-18T00:00:00Z", to = "2026-02-28T23:59:59Z" })
  print(string.format("Records of %s from Feb 18 on: %d", account, #feb))
  for _, r in ipairs(feb) do print("  " .. r.RunTime, r.DocumentId, "Processed=" .. r.Processed) end

  for _, r in ipairs(records:query_by_account(account)) do records:delete_item(r.AccountId, r.RunTime) end
  print("Cleaned up " .. account)
end)
