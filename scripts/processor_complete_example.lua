-- The whole job: creates N records (default 500) over 10 accounts, processes
-- them with a callback that rejects some, prints a summary, then shows that a
-- second run processes only what failed the first time.
-- Usage: ddbrun scripts/processor_complete_example.lua [N] [WORKERS]
local ddb = require("ddb")
local example = require("ddb.example")

local N = math.tointeger(tonumber(arg[1] or "500"))
local WORKERS = math.tointeger(tonumber(arg[2] or os.getenv("PROCESSOR_MAX_WORKERS") or "5"))
if not N or N < 1 or not WORKERS or WORKERS < 1 then
  io.stderr:write("usage: ddbrun scripts/processor_complete_example.lua [N >= 1] [WORKERS >= 1]\n")
  os.exit(2)
end

local function create_records(client, table_name, tag)
  local items, start = {}, os.time { year = 2026, month = 1, day = 1, hour = 0 }
  for i = 0, N - 1 do
    items[#items + 1] = {
      AccountId = string.format("%s-acct-%02d", tag, i % 10),
      RunTime = os.date("!%Y-%m-%dT%H:%M:%SZ", start + i * 60),
      Processed = 0,
      DocumentId = string.format("DOC%06d", i),
      Amount = i,
    }
  end
  client:put_all(table_name, items)
end

local function summarize(title, errors, stats)
  print(string.format("%s: processed %d, skipped %d, failed %d in %.2f s (%.0f records/s, %d workers)",
    title, stats.processed, stats.skipped, stats.failed, stats.elapsed_s, stats.records_per_s, stats.workers))
  local kinds = {}
  for _, e in ipairs(errors) do kinds[e.kind] = (kinds[e.kind] or 0) + 1 end
  for kind, count in pairs(kinds) do print(string.format("  %d failed with kind %q", count, kind)) end
  for i = 1, math.min(3, #errors) do
    local e = errors[i]
    print(string.format("  e.g. %s %s after %d attempt(s): %s", e.AccountId, e.RunTime, e.attempts, e.error:match("^[^\n]*")))
  end
end

example.run("processor_complete_example", function()
  local client = ddb.client()
  local records = ddb.records { client = client }
  local table_name = records:info().table
  example.require_tables(client, { table_name })

  local tag = "demo" .. os.time()
  create_records(client, table_name, tag)
  print(string.format("Created %d unprocessed records over 10 accounts (%s-acct-00..09)", N, tag))

  -- Plain-data upvalues such as `reject_every` are copied into every worker.
  local reject_every = 17
  local processor = ddb.processor { max_workers = WORKERS }
  local errors, first = processor:process_all(function(record, ctx)
    if record.Amount % reject_every == 0 then
      error(string.format("amount %d is a multiple of %d: rejected", record.Amount, reject_every))
    end
    -- real work would go here, e.g. ctx.client:put_item{...}
  end)
  summarize("First run", errors, first)

  local left = #records:query_unprocessed()
  print(string.format("Unprocessed after the first run: %d (the failures stay unprocessed)", left))

  local _, second = processor:process_all(function(record) end)
  summarize("Second run", {}, second)
  print(string.format("The second run processed %d records: exactly the %d that failed before", second.processed, #errors))
  if second.processed ~= #errors or #records:query_unprocessed() ~= 0 then
    error("the second run did not process exactly the earlier failures")
  end
end)
