-- The sharded Processed index (create_tables --shards), the migration to it
-- (migrate_records.lua), and manners under throttling (retry quota, adaptive
-- rate limiting) against the fault proxy's throttle mode.
local ddb = require("ddb")
local tables = require("ddb.tables")
local helper = require("helper")

local direct = helper.client()

local function run_script(args, env)
  return helper.run("--no-env " .. args, { dir = helper.root, env = env })
end

local function run_time(i)
  local base = os.time { year = 2026, month = 1, day = 1, hour = 0 }
  return os.date("!%Y-%m-%dT%H:%M:%SZ", base + i)
end

-- A Lua script run by a child ddbrun (its own retry quota); returns stdout, stderr, code.
local function child(code, env)
  local path = helper.script(code)
  return helper.run("--no-env " .. helper.shell_quote(path), { env = env })
end

describe("a Records table with --shards 16", function()
  local name
  after_each(function()
    tables.delete(direct, name)
    tables.delete(direct, name .. "_users")
  end)

  it("spreads 6,000 records over 16 index keys, lists them in RunTime order and processes each once", function()
    name = helper.unique("Sharded")
    local env = { RECORDS_TABLE = name, USERS_TABLE = name .. "_users" }
    local out, err, code = run_script("scripts/create_tables.lua --shards 16", env)
    assert.are.equal(0, code, err)
    assert.matches(name .. "%s+created", out)

    local records = ddb.records { client = direct, table = name }
    for i = 1, 6000 do
      records:put_item { AccountId = string.format("ACC%03d", i % 37), RunTime = run_time(i), N = i }
    end
    assert.are.same({ table = name, index = "Processed", shards = 16, shard_attribute = "Shard_16" }, records:info())

    -- the index's partition key, as DescribeTable shows it, and the spread over its values
    local gsi = direct:describe_table { TableName = name }.Table.GlobalSecondaryIndexes[1]
    assert.are.same({ "Processed", "HASH", "Shard_16", "HASH", "RunTime", "RANGE" },
      { gsi.KeySchema[1].AttributeName, gsi.KeySchema[1].KeyType, gsi.KeySchema[2].AttributeName,
        gsi.KeySchema[2].KeyType, gsi.KeySchema[3].AttributeName, gsi.KeySchema[3].KeyType })
    local per_key, keys = {}, 0
    for item in direct:scan_items { TableName = name, FilterExpression = "#p = :z",
                                     ExpressionAttributeNames = { ["#p"] = "Processed" },
                                     ExpressionAttributeValues = { [":z"] = 0 } } do
      local key = item.Processed .. "/" .. tostring(item.Shard_16)
      if not per_key[key] then keys = keys + 1 end
      per_key[key] = (per_key[key] or 0) + 1
    end
    local most = 0
    for _, n in pairs(per_key) do most = math.max(most, n) end
    print(string.format("\nspread of 6,000 over %d index keys: largest %d (limit %d)", keys, most, 6000 * 2 // 16))
    assert.is_true(keys >= 16)
    assert.is_true(most <= 6000 * 2 / 16)

    local list = records:query_unprocessed()
    assert.are.equal(6000, #list)
    for i = 2, #list do assert.is_true(list[i - 1].RunTime < list[i].RunTime, "out of order at " .. i) end
    assert.are.equal(5, #records:query_unprocessed { limit = 5 })
    assert.are.equal(run_time(1), records:query_unprocessed { limit = 1 }[1].RunTime)

    local counter = helper.create_table(direct, "id")
    local errors, stats = ddb.processor { client = direct, table = name, max_workers = 8, summary = false }
      :process_all(function(record, ctx)
        ctx.client:update_item { TableName = counter, Key = { id = record.AccountId .. "|" .. record.RunTime },
                                 UpdateExpression = "ADD calls :one", ExpressionAttributeValues = { [":one"] = 1 } }
      end)
    assert.are.same({}, errors)
    assert.are.equal(6000, stats.processed)
    local calls = 0
    for item in direct:scan_items { TableName = counter } do
      assert.are.equal(1, item.calls)
      calls = calls + 1
    end
    assert.are.equal(6000, calls)
    assert.are.equal(6000, #records:query_processed())
    assert.are.equal(0, #records:query_unprocessed())
    tables.delete(direct, counter)
  end)

  it("refuses settings that contradict the table, saying what differs", function()
    name = helper.unique("Sharded")
    tables.ensure(direct, tables.records(name, "Processed", 4))
    local function err_of(opts)
      local ok, e = pcall(function() return ddb.records(opts):query_unprocessed() end)
      assert.is_false(ok)
      return tostring(e)
    end
    assert.matches("LayoutError: RECORDS_SHARDS is 16 but index Processed of table " .. name .. " has 4 shards",
      err_of { client = direct, table = name, shards = 16 }, 1, true)
    assert.matches("LayoutError: table " .. name .. " has no index Nope (its indexes: Processed)",
      err_of { client = direct, table = name, index = "Nope" }, 1, true)
    local _, err, code = child("require('ddb').records():query_unprocessed()",
      { RECORDS_TABLE = name, RECORDS_SHARDS = "0" })
    assert.are.equal(1, code)
    assert.matches("RECORDS_SHARDS is 0 but index Processed of table " .. name .. " has 4 shards", err, 1, true)
  end)

  it("hashes the whole key with FNV-1a 64 and a 0xFF separator, NUL bytes included", function()
    -- the README's recipe, in Lua (integers wrap at 64 bits as the hash does)
    local function fnv(s)
      local h = 0xcbf29ce484222325
      for i = 1, #s do h = (h ~ s:byte(i)) * 0x100000001b3 end
      return h
    end
    for _, k in ipairs { { "ACC12345", "2026-02-17T12:00:00Z" }, { "a\0b", "2026-01-01T00:00:00Z" }, { "ü", "x" } } do
      assert.are.equal(fnv(k[1] .. "\xff" .. k[2]) & 15, ddb.shard_of(k[1], k[2], 16))
    end
    assert.are.equal(3, ddb.shard_of("ACC12345", "2026-02-17T12:00:00Z", 16))
    assert.are_not.equal(ddb.shard_of("a\0b", "x", 1024), ddb.shard_of("a", "x", 1024))
    assert.are_not.equal(ddb.shard_of("ab", "c", 1024), ddb.shard_of("a", "bc", 1024))
  end)

end)

-- Starts `ddbrun ARGS` in the background in dir; returns a handle to read its
-- stdout line by line, its pid, and close() -> exit code.
local function spawn_lines(args, env, dir)
  local assignments = {}
  for k, v in pairs(env or {}) do assignments[#assignments + 1] = k .. "=" .. helper.shell_quote(v) end
  local p = io.popen(string.format("cd %s && exec sh -c 'echo $$; exec env %s %s --no-env %s 2>&1'",
    helper.shell_quote(dir or "."), table.concat(assignments, " "):gsub("'", "'\\''"),
    helper.shell_quote(helper.ddbrun):gsub("'", "'\\''"), args:gsub("'", "'\\''")))
  local pid = assert(tonumber(p:read("l")))
  return {
    pid = pid,
    lines = function() return p:lines() end,
    close = function()
      local _, how, code = p:close()
      return how == "signal" and 128 + code or code
    end,
  }
end

local function alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

describe("migrate_records.lua", function()
  local name, counter
  after_each(function()
    tables.delete(direct, name)
    if counter then tables.delete(direct, counter) end
  end)

  it("moves 20,000 records to 16 shards while a processor runs, resumes after Ctrl-C, and a second run changes nothing", function()
    name = helper.unique("Migrate")
    tables.ensure(direct, tables.records(name, "Processed"))
    local items = {}
    for i = 1, 20000 do items[i] = { AccountId = string.format("ACC%03d", i % 101), RunTime = run_time(i), Processed = 0 } end
    direct:put_all(name, items)
    local dir = helper.tmpdir()
    local script = helper.shell_quote(helper.root .. "/scripts/migrate_records.lua")
    local env = { RECORDS_TABLE = name, AWS_ENDPOINT_URL_DYNAMODB = helper.endpoint }

    -- stopped once the backfill is well under way (SIGTERM: a shell without job
    -- control starts background jobs with SIGINT ignored, and a test runner
    -- may be one; for a script both end the process the same way)
    local m = spawn_lines(script .. " --shards 16", env, dir)
    local seen = {}
    for line in m.lines() do
      seen[#seen + 1] = line
      local scanned = tonumber(line:match("^backfill: scanned (%d+)"))
      if scanned and scanned >= 5000 then
        os.execute("kill -TERM " .. m.pid)
        break
      end
    end
    assert.are_not.equal(0, m.close(), table.concat(seen, "\n"))
    assert.is_truthy(helper.read_file(dir .. "/.migrate_records." .. name .. ".16.checkpoint"))

    -- a processor on the old layout, and the migration resumed beside it
    counter = helper.create_table(direct, "id")
    local worker = spawn_lines(helper.shell_quote(helper.root .. "/spec/fixtures/counting_worker.lua"),
      { RECORDS_TABLE = name, COUNTER_TABLE = counter, WORKERS = "4", AWS_ENDPOINT_URL_DYNAMODB = helper.endpoint })
    m = spawn_lines(script .. " --shards 16", env, dir)
    local overlapped, out = false, {}
    for line in m.lines() do
      out[#out + 1] = line
      if line:match("^backfill: scanned") and alive(worker.pid) then overlapped = true end
    end
    assert.are.equal(0, m.close(), table.concat(out, "\n"))
    out = table.concat(out, "\n")
    assert.matches("backfill: resuming from the checkpoint", out, 1, true)
    assert.matches("done: index Processed_sharded16 (16 shards) is ACTIVE and complete", out, 1, true)
    assert.is_true(overlapped, "the processor had finished before the migration ran")
    local result = {}
    for line in worker.lines() do result[#result + 1] = line end
    assert.are.equal(0, worker.close(), table.concat(result, "\n"))
    assert.matches("RESULT 20000 0 0 false", table.concat(result, "\n"), 1, true)

    -- every record processed exactly once
    local calls = 0
    for item in direct:scan_items { TableName = counter } do
      assert.are.equal(1, item.calls, item.id)
      calls = calls + 1
    end
    assert.are.equal(20000, calls)

    -- switch, then nothing left to do
    local switched, err, code = run_script(script .. " --shards 16 --drop-old", env)
    assert.are.equal(0, code, err)
    assert.matches("backfill: scanned 20000, stamped 0", switched, 1, true)
    assert.matches("done: processes now read index Processed_sharded16 (16 shards); 0 items stamped", switched, 1, true)
    local records = ddb.records { client = direct, table = name }
    assert.are.same({ table = name, index = "Processed_sharded16", shards = 16, shard_attribute = "Shard_16" }, records:info())
    assert.are.equal(20000, #records:query_processed())
    assert.are.equal(0, #records:query_unprocessed())
    local again
    again, err, code = run_script(script .. " --shards 16", env)
    assert.are.equal(0, code, err)
    assert.are.equal("table " .. name .. " already reads index Processed_sharded16 with 16 shards: nothing to do\n", again)
  end)

  it("--backfill stamps items written without the shard attribute by other writers", function()
    name = helper.unique("Backfill")
    tables.ensure(direct, tables.records(name, "Processed", 8))
    direct:put_item { TableName = name, Item = { AccountId = "other", RunTime = run_time(1), Processed = 0 } }
    local records = ddb.records { client = direct, table = name }
    assert.are.equal(0, #records:query_unprocessed())   -- out of the sparse index
    local out, err, code = run_script(helper.shell_quote(helper.root .. "/scripts/migrate_records.lua") .. " --backfill",
      { RECORDS_TABLE = name })
    assert.are.equal(0, code, err)
    assert.matches("done: 1 items stamped", out, 1, true)
    assert.are.equal(1, #records:query_unprocessed())
    out = run_script(helper.shell_quote(helper.root .. "/scripts/migrate_records.lua") .. " --backfill", { RECORDS_TABLE = name })
    assert.matches("done: 0 items stamped", out, 1, true)
  end)
end)

local function start_proxy(args)
  return helper.start_proxy(args, 300)
end

describe("throttling", function()
  local name
  after_each(function() if name then tables.delete(direct, name) end end)

  -- Processes 2,000 records with 16 workers through a proxy that takes 300
  -- requests/s (a token bucket) and throttles the rest.
  local function process_throttled(mode)
    local proxy = start_proxy("--rate 0 --throttle-rate 300")
    local out, err, code = child([==[
      local ddb = require("ddb")
      local _, stats = ddb.processor { max_workers = 16, summary = false }:process_all(function() end)
      print(string.format("RESULT %d %d", stats.processed, stats.failed))   -- #errors stops at max_errors
    ]==], { RECORDS_TABLE = name, AWS_ENDPOINT_URL_DYNAMODB = proxy.endpoint, AWS_RETRY_MODE = mode })
    local stats = proxy:stop()
    assert.are.equal(0, code, err)
    local processed, failed = out:match("RESULT (%d+) (%d+)")
    return tonumber(processed), tonumber(failed), stats.throttled / stats.requests, stats
  end

  it("adaptive mode keeps throttled requests under 10% and loses nothing; standard's share beside it", function()
    name = helper.unique("Throttled")
    tables.ensure(direct, tables.records(name, "Processed"))
    local items = {}
    for i = 1, 2000 do items[i] = { AccountId = string.format("ACC%02d", i % 40), RunTime = run_time(i), Processed = 0 } end
    direct:put_all(name, items)
    local processed, failed, share, stats = process_throttled("adaptive")
    print(string.format("\nthrottled at 300 requests/s, 16 workers: adaptive %.1f%% (%d of %d requests)",
      share * 100, stats.throttled, stats.requests))
    assert.are.equal(2000, processed)
    assert.are.equal(0, failed)
    assert.is_true(share < 0.10, string.format("%.1f%% throttled", share * 100))
    assert.are.equal(0, #ddb.records { client = direct, table = name }:query_unprocessed())

    -- the same records again, in standard mode
    for _, item in ipairs(items) do item.Processed = 0 end
    direct:put_all(name, items)
    local sprocessed, sfailed, sshare, sstats = process_throttled("standard")
    print(string.format("throttled at 300 requests/s, 16 workers: standard %.1f%% (%d of %d requests), %d processed, %d failed",
      sshare * 100, sstats.throttled, sstats.requests, sprocessed, sfailed))
    assert.are.equal(2000, sprocessed + sfailed)
  end)

  it("max_requests_per_s caps a run's requests (a lower bound on its time, never an upper one)", function()
    name = helper.unique("Capped")
    tables.ensure(direct, tables.records(name, "Processed"))
    local items = {}
    for i = 1, 100 do items[i] = { AccountId = "ACC", RunTime = run_time(i), Processed = 0 } end
    direct:put_all(name, items)
    local p = ddb.processor { client = direct, table = name, max_workers = 8, max_requests_per_s = 40, summary = false }
    assert.are.equal(40, p:options().max_requests_per_s)
    local errors, stats = p:process_all(function() end)
    assert.are.same({}, errors)
    assert.are.equal(100, stats.processed)
    -- 101 requests (a page and 100 marks) at 40/s from a bucket holding at most 40
    assert.is_true(stats.elapsed_s >= (101 - 40) / 40, tostring(stats.elapsed_s))
    local _, err = pcall(ddb.processor, { max_requests_per_s = -1 })
    assert.matches("ddb.processor: option 'max_requests_per_s' must be a whole number from 0 to 1000000", tostring(err), 1, true)
  end)

  it("standard mode's retry quota makes a plain call fail fast once it is empty", function()
    local proxy = start_proxy("--rate 1 --faults throttle")
    local out, err, code = child([==[
      local ddb = require("ddb")
      local c = ddb.client { max_attempts = 3, retry_base_ms = 0, retry_cap_ms = 0 }
      print("QUOTA", c:info().retry_mode, c:info().retry_quota)
      for i = 1, 100 do
        local ok, e = pcall(c.get_item, c, { TableName = "Anything", Key = { k = "a" } })
        if e.quota_empty then
          print("FAST", i, e.attempts, tostring(e))
          break
        end
      end
      print("QUOTA", c:info().retry_mode, c:info().retry_quota)
    ]==], { AWS_ENDPOINT_URL_DYNAMODB = proxy.endpoint })
    local stats = proxy:stop()
    assert.are.equal(0, code, err)
    -- 500 tokens pay 50 calls of two retries (5 each); the 51st is not retried
    assert.matches("QUOTA\tstandard\t500\n", out, 1, true)
    assert.matches("FAST\t51\t1\tProvisionedThroughputExceededException: injected " ..
                   "(not retried: the retry quota is empty) (HTTP 400", out, 1, true)
    assert.matches("QUOTA\tstandard\t0\n$", out)
    assert.are.equal(50 * 3 + 1, stats.requests)
  end)

  it("an empty retry quota makes the producer wait and ask again, not end the run", function()
    name = helper.unique("Quota")
    tables.ensure(direct, tables.records(name, "Processed"))
    local items = {}
    for i = 1, 50 do items[i] = { AccountId = "ACC", RunTime = run_time(i), Processed = 0 } end
    direct:put_all(name, items)
    -- after the DescribeTable, 160 throttles: 50 queries of 3 attempts empty
    -- the quota (500 = 50 x 2 retries x 5), then 10 fail fast
    local proxy = start_proxy("--rate 1 --faults throttle --after 1 --max-faults 160")
    local out, err, code = child([==[
      local ddb = require("ddb")
      local errors, stats = ddb.processor { max_workers = 4, backoff_base_ms = 1, summary = false }:process_all(function() end)
      print(string.format("RESULT %d %d", stats.processed, stats.failed))   -- #errors stops at max_errors
    ]==], { RECORDS_TABLE = name, AWS_ENDPOINT_URL_DYNAMODB = proxy.endpoint, DDBRUN_RETRY_BASE_MS = "0" })
    local stats = proxy:stop()
    assert.are.equal(0, code, err)
    assert.are.equal(160, stats.throttle)
    assert.matches("RESULT 50 0", out, 1, true)
  end)

  it("names the throttled table or index when DynamoDB says which", function()
    local proxy = start_proxy("--rate 0 --throttle-rate 1")
    local out, err, code = child([==[
      local ddb = require("ddb")
      local c = ddb.client { max_attempts = 1 }
      for _, req in ipairs { { "get_item", { TableName = "Orders", Key = { k = "a" } } },
                             { "query", { TableName = "Orders", IndexName = "ByDay", KeyConditionExpression = "d = :d",
                                          ExpressionAttributeValues = { [":d"] = "x" } } } } do
        for i = 1, 3 do
          local ok, e = pcall(c[req[1]], c, req[2])
          if not ok and e.code == "ThrottlingException" then print(e.message) break end
        end
      end
    ]==], { AWS_ENDPOINT_URL_DYNAMODB = proxy.endpoint })
    proxy:stop()
    assert.are.equal(0, code, err)
    assert.matches("[throttled: table Orders (TableKeyRangeThroughputExceeded)]", out, 1, true)
    assert.matches("[throttled: index ByDay of table Orders (IndexReadKeyRangeThroughputExceeded)]", out, 1, true)
  end)
end)
