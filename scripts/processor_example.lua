-- Processes every unprocessed record with a Lua callback on worker threads and
-- prints what failed. Settings: PROCESSOR_* and RECORDS_TABLE (see .env.example).
local ddb = require("ddb")
local example = require("ddb.example")

example.run("processor_example", function()
  local processor = ddb.processor()
  local errors, stats = processor:process_all(function(record, ctx)
    -- each worker runs this in its own Lua state; ctx.client is its own client
    print(string.format("worker %d processing %s %s", ctx.worker, record.AccountId, record.RunTime))
  end)
  for _, e in ipairs(errors) do print("failed:", e.AccountId, e.RunTime, e.kind, e.error) end
  print(string.format("processed %d, skipped %d, failed %d", stats.processed, stats.skipped, stats.failed))
end)
