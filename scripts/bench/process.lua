-- Processes every unprocessed record with a no-op callback and prints one
-- line: "RESULT processed errors elapsed_s consumed_wcu consumed_rcu lease_wcu".
-- Usage: ddbrun scripts/bench/process.lua WORKERS (PROCESSOR_LEASE_MS for leases)
local ddb = require("ddb")
local workers = math.tointeger(tonumber(arg[1] or "16"))
local errors, stats = ddb.processor { max_workers = workers, progress = false, summary = false }:process_all(function(record) end)
for i = 1, math.min(#errors, 5) do io.stderr:write("error: ", errors[i].error, "\n") end
print(string.format("RESULT %d %d %.3f %.1f %.1f %.1f", stats.processed, #errors, stats.elapsed_s,
  stats.consumed_wcu, stats.consumed_rcu, stats.lease_wcu))
